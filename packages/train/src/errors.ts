import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link TrainError} carries. After `TrainError.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type TrainErrorCode =
  | "invalid_option"
  | "non_finite_loss"
  | "replica_failed"
  | "replicas_unsupported";

/** Base class of every error @cnnkit/train throws; `code` is stable, the message is for people. */
export class TrainError extends CnnkitError<TrainErrorCode> {
  static override readonly marker: string = "cnnkit.error.TrainError";
  override readonly name = "TrainError";
}
