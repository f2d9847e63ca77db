/** Base class of every error @cnnkit/train throws; `code` is stable, the message is for people. */
export class TrainError extends Error {
  override readonly name = "TrainError";

  constructor(
    /** A stable, machine-readable identifier such as `"invalid_option"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
