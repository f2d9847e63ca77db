import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link OptimError} carries. After `OptimError.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type OptimErrorCode =
  | "corrupt_state"
  | "finished"
  | "invalid_option"
  | "invalid_state"
  | "missing_state"
  | "needs_async_check"
  | "node_only"
  | "non_finite_gradient"
  | "non_finite_norm"
  | "not_swapped_in"
  | "shape_mismatch"
  | "state_mismatch"
  | "swapped_in"
  | "unknown_variable"
  | "unsupported_dtype";

/** Base class of every error @cnnkit/optim throws; `code` is stable, the message is for people. */
export class OptimError extends CnnkitError<OptimErrorCode> {
  static override readonly marker: string = "cnnkit.error.OptimError";
  override readonly name = "OptimError";
}
