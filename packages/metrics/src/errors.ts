/** Base class of every error @cnnkit/metrics throws; `code` is stable, the message is for people. */
export class MetricsError extends Error {
  override readonly name = "MetricsError";

  constructor(
    /** A stable, machine-readable identifier such as `"invalid_option"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
