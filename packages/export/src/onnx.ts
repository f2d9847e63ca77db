// `@cnnkit/export/onnx`: the ONNX writer alone, with nothing of Node's (no fs, no workers), so a
// page or a worker can turn a trained tfjs model into `model.onnx` bytes. Writing a whole export
// folder, verifying and predicting need Node: they are in `@cnnkit/export`.
export { ExportError, type ExportErrorCode } from "./errors.js";
export {
  exportOnnx,
  exportOnnxAsync,
  ONNX_OPSET,
  type OnnxExport,
  type OnnxExportOptions,
  SUPPORTED_LAYERS,
} from "./onnx-export.js";
