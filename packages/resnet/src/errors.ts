import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link ResNetError} carries. After `ResNetError.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type ResNetErrorCode =
  | "dtype_mismatch"
  | "invalid_option"
  | "invalid_safetensors"
  | "missing_tensor"
  | "not_a_resnet"
  | "shape_mismatch"
  | "unexpected_tensor"
  | "unknown_layer";

/** Base class of every error @cnnkit/resnet throws; `code` is stable, the message is for people. */
export class ResNetError extends CnnkitError<ResNetErrorCode> {
  static override readonly marker: string = "cnnkit.error.ResNetError";
  override readonly name = "ResNetError";
}
