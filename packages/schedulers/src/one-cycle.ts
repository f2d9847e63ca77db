// PyTorch's OneCycleLR (torch 1.13), formula for formula, so ported recipes get identical numbers.
import { ScheduleError } from "./errors.js";
import { BaseSchedule, check, describe } from "./lr-schedule.js";

/** Options of {@link OneCycleLR}: PyTorch's, in camelCase. */
export interface OneCycleLROptions {
  /** The peak learning rate. Required. */
  maxLr: number;
  /** Total optimizer steps of the run. Give this, or `epochs` and `stepsPerEpoch`. */
  totalSteps?: number;
  /** Epochs of the run; with `stepsPerEpoch`, totalSteps = epochs × stepsPerEpoch. */
  epochs?: number;
  /** Batches per epoch, taken from the data loader (never typed by hand). */
  stepsPerEpoch?: number;
  /** Fraction of the run spent raising the lr. Defaults to 0.3. */
  pctStart?: number;
  /** `"cos"` or `"linear"` annealing. Defaults to `"cos"`. */
  annealStrategy?: "cos" | "linear";
  /** Cycle momentum (beta1) inversely to the lr. Defaults to true. */
  cycleMomentum?: boolean;
  /** Lowest momentum, reached at the lr peak. Defaults to 0.85. */
  baseMomentum?: number;
  /** Highest momentum, at the start and end. Defaults to 0.95. */
  maxMomentum?: number;
  /** initial lr = maxLr / divFactor. Defaults to 25. */
  divFactor?: number;
  /** min lr = initial lr / finalDivFactor. Defaults to 1e4. */
  finalDivFactor?: number;
  /** Use a third phase that anneals from the initial lr down to the min lr. Defaults to false. */
  threePhase?: boolean;
}

/** {@link OneCycleLROptions} with every default applied and checked. */
export interface ResolvedOneCycleLROptions {
  maxLr: number;
  totalSteps: number;
  pctStart: number;
  annealStrategy: "cos" | "linear";
  cycleMomentum: boolean;
  baseMomentum: number;
  maxMomentum: number;
  divFactor: number;
  finalDivFactor: number;
  threePhase: boolean;
}

const OWNER = "OneCycleLR";

export function resolveOneCycleLROptions(options: OneCycleLROptions): ResolvedOneCycleLROptions {
  if (typeof options !== "object" || options === null) {
    throw new ScheduleError(
      "invalid_option",
      `${OWNER}: expected an options object, got ${describe(options)}`,
    );
  }
  const maxLr = check.positive(OWNER, "maxLr", options.maxLr);
  let totalSteps: number;
  if (options.totalSteps !== undefined) {
    totalSteps = check.positiveInteger(OWNER, "totalSteps", options.totalSteps);
    if (options.epochs !== undefined || options.stepsPerEpoch !== undefined) {
      const product = (options.epochs ?? Number.NaN) * (options.stepsPerEpoch ?? Number.NaN);
      if (product !== totalSteps) {
        throw new ScheduleError(
          "invalid_option",
          `${OWNER}: totalSteps=${totalSteps} disagrees with epochs × stepsPerEpoch = ${describe(options.epochs)} × ${describe(options.stepsPerEpoch)}; give one or the other`,
        );
      }
    }
  } else if (options.epochs !== undefined || options.stepsPerEpoch !== undefined) {
    const epochs = check.positiveInteger(OWNER, "epochs", options.epochs);
    const stepsPerEpoch = check.positiveInteger(OWNER, "stepsPerEpoch", options.stepsPerEpoch);
    totalSteps = epochs * stepsPerEpoch;
  } else {
    throw new ScheduleError(
      "invalid_option",
      `${OWNER}: expected totalSteps, or epochs and stepsPerEpoch (from the data loader), got neither`,
    );
  }
  const annealStrategy = options.annealStrategy ?? "cos";
  if (annealStrategy !== "cos" && annealStrategy !== "linear") {
    throw new ScheduleError(
      "invalid_option",
      `${OWNER}: expected annealStrategy "cos" or "linear", got ${describe(annealStrategy)}`,
    );
  }
  const bool = (name: string, value: unknown, fallback: boolean): boolean => {
    if (value === undefined) return fallback;
    if (typeof value !== "boolean") {
      throw new ScheduleError(
        "invalid_option",
        `${OWNER}: expected ${name} to be a boolean, got ${describe(value)}`,
      );
    }
    return value;
  };
  return {
    maxLr,
    totalSteps,
    pctStart: check.inRange(OWNER, "pctStart", options.pctStart ?? 0.3, 0, 1),
    annealStrategy,
    cycleMomentum: bool("cycleMomentum", options.cycleMomentum, true),
    baseMomentum: check.inRange(OWNER, "baseMomentum", options.baseMomentum ?? 0.85, 0, 1),
    maxMomentum: check.inRange(OWNER, "maxMomentum", options.maxMomentum ?? 0.95, 0, 1),
    divFactor: check.positive(OWNER, "divFactor", options.divFactor ?? 25),
    finalDivFactor: check.positive(OWNER, "finalDivFactor", options.finalDivFactor ?? 1e4),
    threePhase: bool("threePhase", options.threePhase, false),
  };
}

interface Phase {
  endStep: number;
  startLr: number;
  endLr: number;
  startMomentum: number;
  endMomentum: number;
}

// The same expressions, in the same order, as torch.optim.lr_scheduler.OneCycleLR: floating-point
// results then agree to the last bit or two, which the 1e-12 golden tests check.
function annealCos(start: number, end: number, pct: number): number {
  const cosOut = Math.cos(Math.PI * pct) + 1;
  return end + ((start - end) / 2.0) * cosOut;
}

function annealLinear(start: number, end: number, pct: number): number {
  return (end - start) * pct + start;
}

/**
 * The 1cycle policy: the lr rises from maxLr/divFactor to maxLr over `pctStart` of the run,
 * then anneals to a minimum far below the start, while momentum moves the opposite way.
 * After construction and after each of `totalSteps` calls of `step()`, `lr` and `momentum`
 * equal PyTorch's `get_last_lr()` and the optimizer's momentum/beta1; one more `step()` throws.
 */
export class OneCycleLR extends BaseSchedule {
  readonly options: ResolvedOneCycleLROptions;
  readonly totalSteps: number;
  readonly #phases: Phase[];
  readonly #anneal: (start: number, end: number, pct: number) => number;

  constructor(options: OneCycleLROptions) {
    const o = resolveOneCycleLROptions(options);
    const initialLr = o.maxLr / o.divFactor;
    const minLr = initialLr / o.finalDivFactor;
    const total = o.totalSteps;
    const phases: Phase[] = o.threePhase
      ? [
          {
            endStep: o.pctStart * total - 1,
            startLr: initialLr,
            endLr: o.maxLr,
            startMomentum: o.maxMomentum,
            endMomentum: o.baseMomentum,
          },
          {
            endStep: 2 * o.pctStart * total - 2,
            startLr: o.maxLr,
            endLr: initialLr,
            startMomentum: o.baseMomentum,
            endMomentum: o.maxMomentum,
          },
          {
            endStep: total - 1,
            startLr: initialLr,
            endLr: minLr,
            startMomentum: o.maxMomentum,
            endMomentum: o.maxMomentum,
          },
        ]
      : [
          {
            endStep: o.pctStart * total - 1,
            startLr: initialLr,
            endLr: o.maxLr,
            startMomentum: o.maxMomentum,
            endMomentum: o.baseMomentum,
          },
          {
            endStep: total - 1,
            startLr: o.maxLr,
            endLr: minLr,
            startMomentum: o.baseMomentum,
            endMomentum: o.maxMomentum,
          },
        ];
    const anneal = o.annealStrategy === "cos" ? annealCos : annealLinear;
    const at0 = valuesAt(0, phases, anneal);
    super(
      "OneCycleLR",
      { ...o },
      { lr: at0.lr, momentum: o.cycleMomentum ? at0.momentum : undefined },
    );
    this.options = o;
    this.totalSteps = total;
    this.#phases = phases;
    this.#anneal = anneal;
  }

  fresh(): OneCycleLR {
    return new OneCycleLR(this.options);
  }

  protected compute(k: number): { lr: number; momentum: number | undefined } {
    if (k > this.totalSteps) {
      // PyTorch's message counts its constructor's hidden step (it would say k + 1); we count the
      // step() calls the user made, which is the number they can check against their loop.
      throw new ScheduleError(
        "too_many_steps",
        `Tried to step ${k} times. The specified number of total steps is ${this.totalSteps}. ` +
          "totalSteps must equal epochs × stepsPerEpoch of the data loader you actually iterate " +
          "(batches per epoch, counting a last partial batch unless it is dropped); take stepsPerEpoch " +
          "from the loader instead of computing it by hand.",
      );
    }
    const v = valuesAt(k, this.#phases, this.#anneal);
    return { lr: v.lr, momentum: this.options.cycleMomentum ? v.momentum : undefined };
  }
}

function valuesAt(
  stepNum: number,
  phases: readonly Phase[],
  anneal: (start: number, end: number, pct: number) => number,
): { lr: number; momentum: number } {
  let startStep = 0;
  for (let i = 0; i < phases.length; i++) {
    const phase = phases[i]!;
    const endStep = phase.endStep;
    if (stepNum <= endStep || i === phases.length - 1) {
      const span = endStep - startStep;
      // PyTorch raises ZeroDivisionError on a zero-length phase (pctStart = 1 at the last step,
      // pctStart = 1 with totalSteps = 1); the phase is over, so its end value is the honest answer.
      if (span === 0) return { lr: phase.endLr, momentum: phase.endMomentum };
      const pct = (stepNum - startStep) / span;
      return {
        lr: anneal(phase.startLr, phase.endLr, pct),
        momentum: anneal(phase.startMomentum, phase.endMomentum, pct),
      };
    }
    startStep = endStep;
  }
  throw new Error("unreachable: the last phase always matches");
}
