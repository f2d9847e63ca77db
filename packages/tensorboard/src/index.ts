export { crc32c, maskedCrc32c } from "./crc32c.js";
export type { TensorBoardErrorCode } from "./errors.js";
export { TensorBoardError } from "./errors.js";
export type {
  HParamsPluginData,
  HParamValue,
  SessionStatus,
  TfEvent,
  TfHistogram,
  TfImage,
  TfSummaryMetadata,
  TfSummaryValue,
  TfTensor,
} from "./event-proto.js";
export type { EventSink } from "./event-sink.js";
export type { FileSinkOptions } from "./file-sink.js";
export { FileSink } from "./file-sink.js";
export type { HistogramOptions } from "./histogram.js";
export type { ImageInput, PngSource, RawImage } from "./image-input.js";
export { MemorySink } from "./memory-sink.js";
export type { EventFileContents } from "./read-events.js";
export { decodeEvents, listEventFiles, readEvents } from "./read-events.js";
export type { HParamsOptions, SummaryWriterOptions } from "./summary-writer.js";
export { SummaryWriter } from "./summary-writer.js";
export type { TruncatedRecord } from "./tfrecord.js";
