import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link MetricsError} carries. After `MetricsError.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type MetricsErrorCode =
  | "disposed_tensor"
  | "empty"
  | "empty_batch"
  | "index_out_of_range"
  | "invalid_dtype"
  | "invalid_index"
  | "invalid_input"
  | "invalid_option"
  | "invalid_result"
  | "invalid_state"
  | "label_out_of_range"
  | "merge_mismatch"
  | "missing_viz"
  | "no_mistakes"
  | "non_finite_logits"
  | "shape_mismatch";

/** Base class of every error @cnnkit/metrics throws; `code` is stable, the message is for people. */
export class MetricsError extends CnnkitError<MetricsErrorCode> {
  static override readonly marker: string = "cnnkit.error.MetricsError";
  override readonly name = "MetricsError";
}
