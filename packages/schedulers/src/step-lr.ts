// PyTorch's StepLR in its chainable form: multiply the lr by gamma every stepSize steps.
import { BaseSchedule, check } from "./lr-schedule.js";

/** Options of {@link StepLR}. */
export interface StepLROptions {
  /** The learning rate at step 0 (PyTorch takes it from the optimizer). Required. */
  baseLr: number;
  /** Steps between decays. Required. */
  stepSize: number;
  /** Multiplicative decay. Defaults to 0.1. */
  gamma?: number;
}

/** Decays the lr by `gamma` every `stepSize` steps, exactly as `torch.optim.lr_scheduler.StepLR`. */
export class StepLR extends BaseSchedule {
  readonly options: Required<StepLROptions>;
  readonly totalSteps = undefined;

  constructor(options: StepLROptions) {
    const o = {
      baseLr: check.positive("StepLR", "baseLr", options?.baseLr),
      stepSize: check.positiveInteger("StepLR", "stepSize", options?.stepSize),
      gamma: check.positive("StepLR", "gamma", options?.gamma ?? 0.1),
    };
    super("StepLR", { ...o }, { lr: o.baseLr });
    this.options = o;
  }

  fresh(): StepLR {
    return new StepLR(this.options);
  }

  protected compute(k: number, previous: { lr: number }): { lr: number } {
    return { lr: k % this.options.stepSize !== 0 ? previous.lr : previous.lr * this.options.gamma };
  }
}
