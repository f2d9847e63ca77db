/** Base class of every error @cnnkit/backends throws; `code` is stable, the message is for people. */
export class BackendError extends Error {
  override readonly name = "BackendError";

  constructor(
    /** A stable, machine-readable identifier such as `"invalid_option"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
