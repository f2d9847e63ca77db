export { verifyArtifactFiles } from "./digests.js";
export type { ExportErrorCode } from "./errors.js";
export { ExportError } from "./errors.js";
export {
  assertExportReplaceable,
  DEFAULT_COMPANION_FILES,
  removeStaleExportTemps,
} from "./export-dir.js";
export type { EvaluationSamples, ExportInfo, ExportResult } from "./export-model.js";
export { exportModel } from "./export-model.js";
export { loadArtifacts, saveArtifacts } from "./file-io.js";
export type { RgbImage } from "./image.js";
export { decodeImage, normalizePixels, preprocessImage } from "./image.js";
export type { ArtifactName, Manifest, ManifestArtifact, Preprocessing } from "./manifest.js";
export { MANIFEST_FORMAT_VERSION, readManifest, validateManifest } from "./manifest.js";
export type { OnnxExport, OnnxExportOptions } from "./onnx-export.js";
export { exportOnnx, exportOnnxAsync, ONNX_OPSET, SUPPORTED_LAYERS } from "./onnx-export.js";
export type { OnnxRuntimeForward, OnnxRuntimeForwardOptions } from "./onnx-runtime-forward.js";
export { onnxRuntimeForward } from "./onnx-runtime-forward.js";
export type { ClassScore, PredictInput, Prediction, PredictOptions } from "./predict.js";
export { predict } from "./predict.js";
export type { QuantizationDtype, QuantizeOptions } from "./quantize.js";
export { quantizeArtifacts } from "./quantize.js";
export { loadModelFromDir } from "./runner.js";
export {
  type TTALevel,
  type TTAView,
  ttaLogits,
  ttaLogitsAsync,
  ttaView,
  ttaViews,
} from "./test-time-augmentation.js";
export type {
  ArtifactCheck,
  Tolerance,
  VerifyOptions,
  VerifyReport,
  VerifySamples,
} from "./verify-export.js";
export {
  DEFAULT_TOLERANCES,
  formatVerifyReport,
  ParityError,
  verifyExport,
} from "./verify-export.js";
