import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link TrainerError} carries. After `TrainerError.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type TrainerErrorCode =
  | "checkpoint_corrupt"
  | "checkpoint_invalid"
  | "checkpoint_mismatch"
  | "checkpoint_missing"
  | "config_invalid"
  | "config_not_found"
  | "data_invalid"
  | "data_unavailable"
  | "export_blocked"
  | "flag_invalid"
  | "non_finite_loss"
  | "not_writable"
  | "run_exists"
  | "run_invalid"
  | "run_locked"
  | "schedule_mismatch";

/** An error the trainer reports as one line (no stack trace): bad config, missing data, … */
export class TrainerError extends CnnkitError<TrainerErrorCode> {
  static override readonly marker: string = "cnnkit.error.TrainerError";
  override readonly name = "TrainerError";
}

/** A bad flag or config file: the CLIs exit with status 2 for it (1 for any other failure). */
export function isUsageError(error: unknown): boolean {
  return (
    TrainerError.isInstance(error) &&
    (error.code === "flag_invalid" || error.code === "config_invalid")
  );
}
