/** Base class of every error @cnnkit/explain throws; `code` is stable, the message is for people. */
export class ExplainError extends Error {
  override readonly name = "ExplainError";

  constructor(
    /** A stable, machine-readable identifier such as `"unknown_layer"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
