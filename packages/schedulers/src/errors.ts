import { CnnkitError } from "@cnnkit/errors";

/**
 * Every `code` a {@link ScheduleError} carries. After `ScheduleError.isInstance(error)`,
 * `error.code` is one of these, so a comparison with a code that does not exist fails to compile.
 */
export type ScheduleErrorCode =
  | "invalid_option"
  | "invalid_state"
  | "not_restartable"
  | "state_mismatch"
  | "too_many_steps";

/** Base class of every error @cnnkit/schedulers throws; `code` is stable, the message is for people. */
export class ScheduleError extends CnnkitError<ScheduleErrorCode> {
  static override readonly marker: string = "cnnkit.error.ScheduleError";
  override readonly name = "ScheduleError";
}
