/** Base class of every error @cnnkit/schedulers throws; `code` is stable, the message is for people. */
export class ScheduleError extends Error {
  override readonly name = "ScheduleError";

  constructor(
    /** A stable, machine-readable identifier such as `"invalid_option"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
