/** Base class of every error @cnnkit/resnet throws; `code` is stable, the message is for people. */
export class ResNetError extends Error {
  override readonly name = "ResNetError";

  constructor(
    /** A stable, machine-readable identifier such as `"invalid_option"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
