// PyTorch's ConstantLR in its chainable form: a reduced lr for the first totalIters steps.
import { BaseSchedule, check } from "./lr-schedule.js";

/** Options of {@link ConstantLR}. */
export interface ConstantLROptions {
  /** The learning rate once the constant phase is over. Required. */
  baseLr: number;
  /** The lr is baseLr × factor until step totalIters. Defaults to 1/3 (PyTorch's default). */
  factor?: number;
  /** Steps at the reduced lr. Defaults to 5. */
  totalIters?: number;
}

/** baseLr × factor for `totalIters` steps, then baseLr, exactly as `torch.optim.lr_scheduler.ConstantLR`. */
export class ConstantLR extends BaseSchedule {
  readonly options: Required<ConstantLROptions>;
  readonly totalSteps = undefined;

  constructor(options: ConstantLROptions) {
    // factor 0 would make PyTorch divide by zero when it restores the lr; (0, 1] only.
    const factor = check.inRange("ConstantLR", "factor", options?.factor ?? 1 / 3, 0, 1);
    const o = {
      baseLr: check.positive("ConstantLR", "baseLr", options?.baseLr),
      factor: check.positive("ConstantLR", "factor", factor),
      totalIters: check.positiveInteger("ConstantLR", "totalIters", options?.totalIters ?? 5),
    };
    super("ConstantLR", { ...o }, { lr: o.baseLr * o.factor });
    this.options = o;
  }

  fresh(): ConstantLR {
    return new ConstantLR(this.options);
  }

  protected compute(k: number, previous: { lr: number }): { lr: number } {
    return {
      lr: k !== this.options.totalIters ? previous.lr : previous.lr * (1.0 / this.options.factor),
    };
  }
}
