/** Base class of every error @cnnkit/tensorboard throws; `code` is stable, the message is for people. */
export class TensorBoardError extends Error {
  override readonly name = "TensorBoardError";

  constructor(
    /** A stable, machine-readable identifier such as `"invalid_option"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
