/** Base class of every error @cnnkit/optim throws; `code` is stable, the message is for people. */
export class OptimError extends Error {
  override readonly name = "OptimError";

  constructor(
    /** A stable, machine-readable identifier such as `"invalid_option"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
