import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link ExportError} carries. After `ExportError.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type ExportErrorCode =
  | "backend_missing"
  | "bad_image"
  | "corrupt_model_json"
  | "corrupt_onnx"
  | "digest_mismatch"
  | "exists"
  | "invalid_manifest"
  | "invalid_model"
  | "invalid_option"
  | "manifest_too_new"
  | "missing_artifact"
  | "missing_file"
  | "missing_shard"
  | "non_finite_weight"
  | "onnx_unsupported"
  | "onnxruntime_missing"
  | "parity_failed"
  | "save_failed"
  | "shard_size"
  | "unknown_artifact"
  | "unsupported_weight"
  | "verify_timeout"
  | "worker_failed";

/** Base class of every error @cnnkit/export throws; `code` is stable, the message is for people. */
export class ExportError extends CnnkitError<ExportErrorCode> {
  static override readonly marker: string = "cnnkit.error.ExportError";
  override readonly name = "ExportError";
}
