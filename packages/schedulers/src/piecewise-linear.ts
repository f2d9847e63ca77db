// Piecewise-linear schedules: the triangular lr (and momentum) curves of the fast CIFAR-10 recipes.
import { ScheduleError } from "./errors.js";
import { BaseSchedule, describe, isFiniteNumber } from "./lr-schedule.js";

/** Options of {@link PiecewiseLinear}. */
export interface PiecewiseLinearOptions {
  /** Strictly increasing steps where the values are pinned (e.g. `[0, 5, 24].map((e) => e * stepsPerEpoch)`). Required. */
  milestones: readonly number[];
  /** The lr at each milestone; linear in between, held flat outside. Required. */
  lrs: readonly number[];
  /** The momentum at each milestone, if the schedule should drive momentum. Defaults to none. */
  momentums?: readonly number[];
}

/** Linear interpolation through (milestone, value) knots, constant before the first and after the last. */
export class PiecewiseLinear extends BaseSchedule {
  readonly options: {
    milestones: readonly number[];
    lrs: readonly number[];
    momentums: readonly number[] | null;
  };
  readonly totalSteps: number;

  constructor(options: PiecewiseLinearOptions) {
    const { milestones, lrs, momentums } = options ?? ({} as PiecewiseLinearOptions);
    const fail = (message: string): never => {
      throw new ScheduleError("invalid_option", `PiecewiseLinear: ${message}`);
    };
    if (!Array.isArray(milestones) || milestones.length === 0) {
      fail(`expected milestones to be a non-empty array of steps, got ${describe(milestones)}`);
    }
    milestones.forEach((m, i) => {
      if (!isFiniteNumber(m) || m < 0 || (i > 0 && m <= milestones[i - 1]!)) {
        fail(
          `expected milestones to be strictly increasing finite steps >= 0, got ${describe(milestones)}`,
        );
      }
    });
    const values = (name: string, v: unknown): readonly number[] => {
      if (!Array.isArray(v) || v.length !== milestones.length || !v.every(isFiniteNumber)) {
        return fail(
          `expected ${name} to hold ${milestones.length} finite numbers (one per milestone), got ${describe(v)}`,
        );
      }
      return [...v];
    };
    const o = {
      milestones: [...milestones],
      lrs: values("lrs", lrs),
      momentums: momentums === undefined ? null : values("momentums", momentums),
    };
    if (o.lrs.some((lr) => lr < 0)) fail(`expected lrs >= 0, got ${describe(o.lrs)}`);
    super(
      "PiecewiseLinear",
      { ...o },
      {
        lr: interpolate(0, o.milestones, o.lrs),
        momentum: o.momentums ? interpolate(0, o.milestones, o.momentums) : undefined,
      },
    );
    this.options = o;
    this.totalSteps = Math.ceil(o.milestones[o.milestones.length - 1]!);
  }

  fresh(): PiecewiseLinear {
    const { milestones, lrs, momentums } = this.options;
    return new PiecewiseLinear(momentums ? { milestones, lrs, momentums } : { milestones, lrs });
  }

  protected compute(k: number): { lr: number; momentum: number | undefined } {
    const { milestones, lrs, momentums } = this.options;
    return {
      lr: interpolate(k, milestones, lrs),
      momentum: momentums ? interpolate(k, milestones, momentums) : undefined,
    };
  }
}

function interpolate(x: number, xs: readonly number[], ys: readonly number[]): number {
  if (x <= xs[0]!) return ys[0]!;
  for (let i = 1; i < xs.length; i++) {
    const x1 = xs[i]!;
    if (x <= x1) {
      const x0 = xs[i - 1]!;
      const y0 = ys[i - 1]!;
      return y0 + ((ys[i]! - y0) * (x - x0)) / (x1 - x0);
    }
  }
  return ys[ys.length - 1]!;
}
