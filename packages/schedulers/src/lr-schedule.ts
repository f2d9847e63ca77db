// The one interface every schedule implements, and the shared machinery of the built-in ones.
import { ScheduleError } from "./errors.js";

/**
 * A learning-rate (and optionally momentum) schedule, stepped once per optimizer step.
 * `lr` and `momentum` are the values to use for the next optimizer step; `step()` advances.
 */
export interface LRSchedule {
  /** The learning rate for the current step. */
  readonly lr: number;
  /** The momentum (SGD) or beta1 (Adam) for the current step; `undefined` leaves the optimizer's own. */
  readonly momentum?: number;
  /** Advance one step (call it after each optimizer step, as in PyTorch). */
  step(): void;
  /** A JSON-serialisable snapshot: `loadStateDict` of it resumes with identical values. */
  stateDict(): object;
  /** Restore a snapshot written by `stateDict()` of a schedule built with the same options. */
  loadStateDict(state: object): void;
}

/** JSON values a schedule's resolved options are made of. */
export type ConfigValue = number | string | boolean | null | readonly number[];

/** What `stateDict()` of the built-in schedules returns (plain JSON). */
export interface ScheduleState {
  /** The class that wrote it, e.g. `"OneCycleLR"`. */
  schedule: string;
  /** How many times `step()` had been called. */
  stepCount: number;
  /** The current learning rate (the chainable PyTorch schedules compute the next from it). */
  lr: number;
  /** The current momentum, when the schedule drives one. */
  momentum?: number;
  /** The resolved options, checked on load so a resumed run cannot silently change schedule. */
  config: Record<string, ConfigValue>;
  /** The wrapped schedule's state (LinearWarmup). */
  inner?: object;
}

/** A schedule that can make a copy of itself at step 0 (all cnnkit schedules can). */
export interface FreshSchedule extends LRSchedule {
  /** A new schedule with the same options, at step 0; the original is untouched. */
  fresh(): LRSchedule;
  /** The number of steps the schedule was designed for, when it has one. */
  readonly totalSteps?: number;
}

/** Shared state handling: a step counter plus the current values, computed one step at a time. */
export abstract class BaseSchedule implements FreshSchedule {
  #stepCount = 0;
  #lr: number;
  #momentum: number | undefined;

  protected constructor(
    private readonly scheduleName: string,
    protected readonly config: Record<string, ConfigValue>,
    initial: { lr: number; momentum?: number | undefined },
  ) {
    this.#lr = initial.lr;
    this.#momentum = initial.momentum;
  }

  get lr(): number {
    return this.#lr;
  }

  get momentum(): number | undefined {
    return this.#momentum;
  }

  /** How many times `step()` has been called. */
  get stepCount(): number {
    return this.#stepCount;
  }

  abstract readonly totalSteps?: number;

  abstract fresh(): LRSchedule;

  /** Values after `k` steps, given the values after `k - 1` (PyTorch's chainable form needs them). */
  protected abstract compute(
    k: number,
    previous: { lr: number; momentum: number | undefined },
  ): { lr: number; momentum?: number | undefined };

  step(): void {
    // Compute first: if it throws, the schedule stays where it was.
    const next = this.compute(this.#stepCount + 1, { lr: this.#lr, momentum: this.#momentum });
    this.#stepCount += 1;
    this.#lr = next.lr;
    this.#momentum = next.momentum;
  }

  stateDict(): ScheduleState {
    const state: ScheduleState = {
      schedule: this.scheduleName,
      stepCount: this.#stepCount,
      lr: this.#lr,
      config: { ...this.config },
    };
    if (this.#momentum !== undefined) state.momentum = this.#momentum;
    return state;
  }

  loadStateDict(state: object): void {
    const s = checkState(state, this.scheduleName, this.config);
    const momentum = (s as { momentum?: unknown }).momentum;
    if (!isFiniteNumber(s.lr)) {
      throw new ScheduleError(
        "invalid_state",
        `${this.scheduleName} state: expected a finite number in "lr", got ${describe(s.lr)}`,
      );
    }
    if (momentum !== undefined && !isFiniteNumber(momentum)) {
      throw new ScheduleError(
        "invalid_state",
        `${this.scheduleName} state: expected a finite number in "momentum", got ${describe(momentum)}`,
      );
    }
    if ((momentum === undefined) !== (this.#momentum === undefined)) {
      throw new ScheduleError(
        "state_mismatch",
        `${this.scheduleName} state: expected ${this.#momentum === undefined ? "no momentum" : "a momentum"}, got ${describe(momentum)}`,
      );
    }
    this.#stepCount = s.stepCount;
    this.#lr = s.lr;
    this.#momentum = momentum;
  }
}

/** Validates the common envelope of a state dict and that it was written with the same options. */
export function checkState(
  state: unknown,
  scheduleName: string,
  config: Record<string, ConfigValue>,
): ScheduleState {
  if (typeof state !== "object" || state === null) {
    throw new ScheduleError(
      "invalid_state",
      `${scheduleName}.loadStateDict: expected an object from stateDict(), got ${describe(state)}`,
    );
  }
  const s = state as Partial<ScheduleState>;
  if (s.schedule !== scheduleName) {
    throw new ScheduleError(
      "state_mismatch",
      `${scheduleName}.loadStateDict: expected a ${scheduleName} state, got one from ${describe(s.schedule)}`,
    );
  }
  if (!Number.isInteger(s.stepCount) || (s.stepCount as number) < 0) {
    throw new ScheduleError(
      "invalid_state",
      `${scheduleName} state: expected a non-negative integer "stepCount", got ${describe(s.stepCount)}`,
    );
  }
  const saved = s.config ?? {};
  for (const key of new Set([...Object.keys(config), ...Object.keys(saved)])) {
    const want = JSON.stringify(config[key] ?? null);
    const got = JSON.stringify((saved as Record<string, unknown>)[key] ?? null);
    if (want !== got) {
      throw new ScheduleError(
        "state_mismatch",
        `${scheduleName}.loadStateDict: the state was saved with ${key}=${got} but this schedule has ${key}=${want}; build the schedule with the options of the run you resume (did the loader's steps per epoch change?)`,
      );
    }
  }
  return s as ScheduleState;
}

export function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(describe).join(", ")}]`;
  if (typeof value === "number" || typeof value === "boolean" || value == null)
    return String(value);
  return typeof value;
}

/** Option validation shared by the schedules: each names the option and what it got. */
export const check = {
  positive(owner: string, name: string, value: unknown): number {
    if (!isFiniteNumber(value) || value <= 0) {
      throw new ScheduleError(
        "invalid_option",
        `${owner}: expected ${name} to be a finite number > 0, got ${describe(value)}`,
      );
    }
    return value;
  },
  positiveInteger(owner: string, name: string, value: unknown): number {
    if (!Number.isInteger(value) || (value as number) <= 0) {
      throw new ScheduleError(
        "invalid_option",
        `${owner}: expected ${name} to be a positive integer, got ${describe(value)}`,
      );
    }
    return value as number;
  },
  nonNegative(owner: string, name: string, value: unknown): number {
    if (!isFiniteNumber(value) || value < 0) {
      throw new ScheduleError(
        "invalid_option",
        `${owner}: expected ${name} to be a finite number >= 0, got ${describe(value)}`,
      );
    }
    return value;
  },
  inRange(owner: string, name: string, value: unknown, lo: number, hi: number): number {
    if (!isFiniteNumber(value) || value < lo || value > hi) {
      throw new ScheduleError(
        "invalid_option",
        `${owner}: expected ${name} in [${lo}, ${hi}], got ${describe(value)}`,
      );
    }
    return value;
  },
};
