import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link BackendError} carries. After `BackendError.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type BackendErrorCode =
  | "backend_unavailable"
  | "invalid_option"
  | "missing_kernel"
  | "onnxruntime_unavailable"
  | "unsupported_conv"
  | "unsupported_layer"
  | "unsupported_reduction"
  | "unsupported_tensor";

/** Base class of every error @cnnkit/backends throws; `code` is stable, the message is for people. */
export class BackendError extends CnnkitError<BackendErrorCode> {
  static override readonly marker: string = "cnnkit.error.BackendError";
  override readonly name = "BackendError";
}
