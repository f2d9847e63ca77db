import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link TensorBoardError} carries. After `TensorBoardError.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type TensorBoardErrorCode =
  | "closed"
  | "corrupt_record"
  | "hparams_already_written"
  | "invalid_image"
  | "invalid_option"
  | "invalid_step"
  | "invalid_tag"
  | "invalid_value"
  | "logdir_unwritable"
  | "malformed_event"
  | "no_file_system"
  | "non_finite_histogram"
  | "unreadable_file"
  | "unsupported_hparams_data"
  | "write_failed";

/** Base class of every error @cnnkit/tensorboard throws; `code` is stable, the message is for people. */
export class TensorBoardError extends CnnkitError<TensorBoardErrorCode> {
  static override readonly marker: string = "cnnkit.error.TensorBoardError";
  override readonly name = "TensorBoardError";
}
