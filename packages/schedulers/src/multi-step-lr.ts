// PyTorch's MultiStepLR in its chainable form: multiply the lr by gamma at each milestone.
import { ScheduleError } from "./errors.js";
import { BaseSchedule, check, describe } from "./lr-schedule.js";

/** Options of {@link MultiStepLR}. */
export interface MultiStepLROptions {
  /** The learning rate at step 0. Required. */
  baseLr: number;
  /** Steps at which the lr is multiplied by gamma; a repeated milestone applies gamma twice. Required. */
  milestones: readonly number[];
  /** Multiplicative decay. Defaults to 0.1. */
  gamma?: number;
}

/** Decays the lr by `gamma` at each milestone, exactly as `torch.optim.lr_scheduler.MultiStepLR`. */
export class MultiStepLR extends BaseSchedule {
  readonly options: { baseLr: number; milestones: readonly number[]; gamma: number };
  readonly totalSteps = undefined;
  readonly #counts = new Map<number, number>();

  constructor(options: MultiStepLROptions) {
    const milestones = options?.milestones;
    if (!Array.isArray(milestones) || milestones.some((m) => !Number.isInteger(m) || m < 0)) {
      throw new ScheduleError(
        "invalid_option",
        `MultiStepLR: expected milestones to be an array of non-negative integer steps, got ${describe(milestones)}`,
      );
    }
    const o = {
      baseLr: check.positive("MultiStepLR", "baseLr", options.baseLr),
      milestones: [...milestones].sort((a, b) => a - b),
      gamma: check.positive("MultiStepLR", "gamma", options.gamma ?? 0.1),
    };
    super("MultiStepLR", { ...o }, { lr: o.baseLr });
    this.options = o;
    for (const m of o.milestones) this.#counts.set(m, (this.#counts.get(m) ?? 0) + 1);
  }

  fresh(): MultiStepLR {
    return new MultiStepLR(this.options);
  }

  protected compute(k: number, previous: { lr: number }): { lr: number } {
    const count = this.#counts.get(k);
    return { lr: count === undefined ? previous.lr : previous.lr * this.options.gamma ** count };
  }
}
