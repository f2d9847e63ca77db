/** An error the trainer reports as one line (no stack trace): bad config, missing data, … */
export class TrainerError extends Error {
  override readonly name = "TrainerError";

  constructor(
    /** A stable, machine-readable identifier such as `"config_invalid"`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
