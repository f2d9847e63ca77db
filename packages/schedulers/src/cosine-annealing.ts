// PyTorch's CosineAnnealingLR in its chainable (recursive) form, which is what step() computes in
// torch; the closed form differs in the last bits, so the recursion is kept on purpose.
import { BaseSchedule, check } from "./lr-schedule.js";

/** Options of {@link CosineAnnealingLR}. */
export interface CosineAnnealingLROptions {
  /** The learning rate at step 0. Required. */
  baseLr: number;
  /** Steps of one half cosine (the lr reaches etaMin at step tMax and rises again after). Required. */
  tMax: number;
  /** The lowest lr. Defaults to 0. */
  etaMin?: number;
}

/** Cosine annealing from baseLr to etaMin over tMax steps, exactly as `torch.optim.lr_scheduler.CosineAnnealingLR`. */
export class CosineAnnealingLR extends BaseSchedule {
  readonly options: Required<CosineAnnealingLROptions>;
  readonly totalSteps: number;

  constructor(options: CosineAnnealingLROptions) {
    const o = {
      baseLr: check.positive("CosineAnnealingLR", "baseLr", options?.baseLr),
      tMax: check.positiveInteger("CosineAnnealingLR", "tMax", options?.tMax),
      etaMin: check.nonNegative("CosineAnnealingLR", "etaMin", options?.etaMin ?? 0),
    };
    super("CosineAnnealingLR", { ...o }, { lr: o.baseLr });
    this.options = o;
    this.totalSteps = o.tMax;
  }

  fresh(): CosineAnnealingLR {
    return new CosineAnnealingLR(this.options);
  }

  protected compute(k: number, previous: { lr: number }): { lr: number } {
    const { baseLr, tMax, etaMin } = this.options;
    // JS % keeps the sign of the dividend where Python's does not; only "== 0" is tested, which agrees.
    if ((k - 1 - tMax) % (2 * tMax) === 0) {
      return { lr: previous.lr + ((baseLr - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2 };
    }
    return {
      lr:
        ((1 + Math.cos((Math.PI * k) / tMax)) / (1 + Math.cos((Math.PI * (k - 1)) / tMax))) *
          (previous.lr - etaMin) +
        etaMin,
    };
  }
}
