import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link ExplainError} carries. After `ExplainError.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type ExplainErrorCode =
  | "invalid_input"
  | "invalid_option"
  | "invalid_state"
  | "no_gradients"
  | "not_a_resnet"
  | "unknown_group"
  | "unknown_layer"
  | "unsupported_model";

/** Base class of every error @cnnkit/explain throws; `code` is stable, the message is for people. */
export class ExplainError extends CnnkitError<ExplainErrorCode> {
  static override readonly marker: string = "cnnkit.error.ExplainError";
  override readonly name = "ExplainError";
}
