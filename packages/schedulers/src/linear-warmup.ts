// Linear warmup in front of any schedule: ramp up to the schedule's first lr, then hand over.
import { ScheduleError } from "./errors.js";
import {
  check,
  checkState,
  describe,
  type FreshSchedule,
  type LRSchedule,
  type ScheduleState,
} from "./lr-schedule.js";

/** Options of {@link LinearWarmup}. */
export interface LinearWarmupOptions {
  /** The schedule that takes over after warmup; it is stepped only once warmup is over. Required. */
  schedule: LRSchedule;
  /** Steps of warmup. Required. */
  warmupSteps: number;
  /** The lr at step 0 is startFactor × the schedule's first lr, rising linearly to 1×. Defaults to 0.1. */
  startFactor?: number;
}

/**
 * During the first `warmupSteps` steps the lr is `schedule.lr × (startFactor + (1 − startFactor) ×
 * k / warmupSteps)` and momentum is the schedule's; from then on both are the schedule's own,
 * which starts its step 0 at step `warmupSteps`.
 */
export class LinearWarmup implements FreshSchedule {
  readonly options: { warmupSteps: number; startFactor: number };
  readonly schedule: LRSchedule;
  #stepCount = 0;

  constructor(options: LinearWarmupOptions) {
    const schedule = options?.schedule;
    if (
      typeof schedule !== "object" ||
      schedule === null ||
      typeof (schedule as LRSchedule).step !== "function"
    ) {
      throw new ScheduleError(
        "invalid_option",
        `LinearWarmup: expected schedule to be an LRSchedule, got ${describe(schedule)}`,
      );
    }
    this.schedule = schedule;
    this.options = {
      warmupSteps: check.positiveInteger("LinearWarmup", "warmupSteps", options.warmupSteps),
      startFactor: check.inRange("LinearWarmup", "startFactor", options.startFactor ?? 0.1, 0, 1),
    };
  }

  get lr(): number {
    const { warmupSteps, startFactor } = this.options;
    if (this.#stepCount >= warmupSteps) return this.schedule.lr;
    return this.schedule.lr * (startFactor + ((1 - startFactor) * this.#stepCount) / warmupSteps);
  }

  get momentum(): number | undefined {
    return this.schedule.momentum;
  }

  /** How many times `step()` has been called. */
  get stepCount(): number {
    return this.#stepCount;
  }

  /** warmupSteps plus the wrapped schedule's totalSteps, when it has one. */
  get totalSteps(): number | undefined {
    const inner = (this.schedule as Partial<FreshSchedule>).totalSteps;
    return inner === undefined ? undefined : this.options.warmupSteps + inner;
  }

  step(): void {
    if (this.#stepCount + 1 > this.options.warmupSteps) this.schedule.step();
    this.#stepCount += 1;
  }

  fresh(): LinearWarmup {
    const inner = this.schedule as Partial<FreshSchedule>;
    if (typeof inner.fresh !== "function") {
      throw new ScheduleError(
        "not_restartable",
        "LinearWarmup.fresh: the wrapped schedule has no fresh() method, so it cannot be restarted at step 0",
      );
    }
    return new LinearWarmup({ ...this.options, schedule: inner.fresh() });
  }

  stateDict(): ScheduleState {
    return {
      schedule: "LinearWarmup",
      stepCount: this.#stepCount,
      lr: this.lr,
      config: { ...this.options },
      inner: this.schedule.stateDict(),
    };
  }

  loadStateDict(state: object): void {
    const s = checkState(state, "LinearWarmup", this.options);
    if (typeof s.inner !== "object" || s.inner === null) {
      throw new ScheduleError(
        "invalid_state",
        `LinearWarmup state: expected the wrapped schedule's state in "inner", got ${describe(s.inner)}`,
      );
    }
    this.schedule.loadStateDict(s.inner);
    this.#stepCount = s.stepCount;
  }
}
