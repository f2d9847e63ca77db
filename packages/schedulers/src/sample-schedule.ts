// Data helpers for seeing a schedule: the values step by step, and a Markdown table of them.
import { ScheduleError } from "./errors.js";
import { describe, type FreshSchedule, type LRSchedule } from "./lr-schedule.js";

/** The values a schedule gives for one optimizer step. */
export interface ScheduleSample {
  /** 0-based optimizer step. */
  step: number;
  /** Learning rate used for that step. */
  lr: number;
  /** Momentum / beta1 used for that step, when the schedule drives one. */
  momentum?: number;
}

/**
 * The lr (and momentum) of each of the first `steps` optimizer steps of a run, from a fresh copy
 * of the schedule at step 0: the caller's schedule is never stepped.
 *
 * @param schedule a cnnkit schedule (copied with `fresh()`), or a factory making a new schedule.
 * @param steps how many steps to sample. Defaults to the schedule's `totalSteps`.
 */
export function sampleSchedule(
  schedule: LRSchedule | (() => LRSchedule),
  steps?: number,
): ScheduleSample[] {
  let copy: LRSchedule;
  if (typeof schedule === "function") {
    copy = schedule();
  } else if (typeof (schedule as Partial<FreshSchedule>).fresh === "function") {
    copy = (schedule as FreshSchedule).fresh();
  } else {
    throw new ScheduleError(
      "not_restartable",
      "sampleSchedule: expected a schedule with fresh() (every cnnkit schedule has one) or a factory () => LRSchedule, got an object without fresh()",
    );
  }
  const n = steps ?? (copy as Partial<FreshSchedule>).totalSteps;
  if (!Number.isInteger(n) || (n as number) < 0) {
    throw new ScheduleError(
      "invalid_option",
      `sampleSchedule: expected steps to be a non-negative integer${steps === undefined ? " (this schedule has no totalSteps, so pass steps)" : ""}, got ${describe(n)}`,
    );
  }
  const samples: ScheduleSample[] = [];
  for (let step = 0; step < (n as number); step++) {
    const sample: ScheduleSample = { step, lr: copy.lr };
    if (copy.momentum !== undefined) sample.momentum = copy.momentum;
    samples.push(sample);
    // The value after the last training step is never used; not computing it also keeps
    // OneCycleLR clear of its step-count check.
    if (step + 1 < (n as number)) copy.step();
  }
  return samples;
}

/** Options of {@link scheduleTable}. */
export interface ScheduleTableOptions {
  /** Rows in the table, evenly spaced over the run, first and last step included. Defaults to 11. */
  rows?: number;
  /** Significant digits of each value. Defaults to 4. */
  digits?: number;
}

/**
 * A Markdown table of a schedule (`| step | lr | momentum |`), for READMEs and run reports.
 * Takes samples from {@link sampleSchedule}, or a schedule to sample over its `totalSteps`.
 */
export function scheduleTable(
  samples: readonly ScheduleSample[] | LRSchedule,
  options: ScheduleTableOptions = {},
): string {
  const rows = options.rows ?? 11;
  const digits = options.digits ?? 4;
  if (!Number.isInteger(rows) || rows < 2) {
    throw new ScheduleError(
      "invalid_option",
      `scheduleTable: expected rows to be an integer >= 2, got ${describe(rows)}`,
    );
  }
  if (!Number.isInteger(digits) || digits < 1 || digits > 17) {
    throw new ScheduleError(
      "invalid_option",
      `scheduleTable: expected digits to be an integer in [1, 17], got ${describe(digits)}`,
    );
  }
  const all = Array.isArray(samples) ? samples : sampleSchedule(samples as LRSchedule);
  const picked: ScheduleSample[] = [];
  if (all.length <= rows) {
    picked.push(...all);
  } else {
    let last = -1;
    for (let r = 0; r < rows; r++) {
      const i = Math.round((r * (all.length - 1)) / (rows - 1));
      if (i !== last) picked.push(all[i]!);
      last = i;
    }
  }
  const withMomentum = all.some((s) => s.momentum !== undefined);
  const fmt = (v: number | undefined): string =>
    v === undefined ? "" : String(Number(v.toPrecision(digits)));
  const lines = withMomentum
    ? ["| step | lr | momentum |", "|---:|---:|---:|"]
    : ["| step | lr |", "|---:|---:|"];
  for (const s of picked) {
    lines.push(
      withMomentum
        ? `| ${s.step} | ${fmt(s.lr)} | ${fmt(s.momentum)} |`
        : `| ${s.step} | ${fmt(s.lr)} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}
