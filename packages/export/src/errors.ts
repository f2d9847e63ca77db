/** Base class of every error @cnnkit/export throws; `code` is stable, the message is for people. */
export class ExportError extends Error {
  override readonly name = "ExportError";

  constructor(
    /** A stable, machine-readable identifier such as `"invalid_option"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
