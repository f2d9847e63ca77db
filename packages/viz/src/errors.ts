/** Base class of every error @cnnkit/viz throws; `code` is stable, the message is for people. */
export class VizError extends Error {
  override readonly name = "VizError";

  constructor(
    /** A stable, machine-readable identifier such as `"invalid_option"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
