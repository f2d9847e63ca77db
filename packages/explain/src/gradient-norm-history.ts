// Gradient norms over training, one series per block, and their pictures: the curves over
// steps, and the profile over depth at chosen steps.
import { colorForValue, type LineSeries, lineChart, type Picture } from "@cnnkit/viz";
import { ExplainError } from "./errors.js";

/** What {@link GradientNormHistory.stateDict} returns and `loadStateDict` reads. */
export interface GradientNormHistoryState {
  steps: number[];
  /** Per group, one norm per recorded step (null where the group had no gradient). */
  norms: Record<string, (number | null)[]>;
}

/**
 * Records `gradientNormsByBlock` results over steps. Groups keep the order they first appear
 * in (forward order); a group missing from a record gets NaN there, drawn as a gap.
 */
export class GradientNormHistory {
  readonly #steps: number[] = [];
  readonly #norms = new Map<string, number[]>();

  /** Records the norms of one step; steps must increase. */
  record(step: number, norms: Readonly<Record<string, number>>): void {
    const last = this.#steps.at(-1);
    if (!Number.isFinite(step) || (last !== undefined && step <= last)) {
      throw new ExplainError(
        "invalid_input",
        `GradientNormHistory.record step: expected a finite number greater than the last step (${last ?? "none"}), got ${step}`,
      );
    }
    for (const [name, value] of Object.entries(norms)) {
      if (typeof value !== "number") {
        throw new ExplainError(
          "invalid_input",
          `GradientNormHistory.record norms[${JSON.stringify(name)}]: expected a number, got ${typeof value}`,
        );
      }
      if (!this.#norms.has(name))
        this.#norms.set(name, new Array<number>(this.#steps.length).fill(Number.NaN));
    }
    this.#steps.push(step);
    for (const [name, series] of this.#norms) series.push(norms[name] ?? Number.NaN);
  }

  /** The recorded steps, in order. */
  get steps(): readonly number[] {
    return this.#steps;
  }

  /** The groups seen, in forward order (`stem`, `stage1_block1`, …, `logits`). */
  get groups(): string[] {
    return [...this.#norms.keys()];
  }

  /** One group's norms, one per recorded step (NaN where it had none). */
  norms(group: string): readonly number[] {
    const series = this.#norms.get(group);
    if (series === undefined) {
      throw new ExplainError(
        "unknown_group",
        `GradientNormHistory.norms: expected one of ${this.groups.map((g) => JSON.stringify(g)).join(", ") || "(nothing recorded)"}, got ${JSON.stringify(group)}`,
      );
    }
    return series;
  }

  /**
   * A JSON-safe copy (NaN becomes null) for a checkpoint or a run's report; the same
   * `stateDict()` / `loadStateDict()` pair as cnnkit's schedulers and metrics.
   */
  stateDict(): GradientNormHistoryState {
    return {
      steps: [...this.#steps],
      norms: Object.fromEntries(
        [...this.#norms].map(([name, s]) => [name, s.map((v) => (Number.isNaN(v) ? null : v))]),
      ),
    };
  }

  /** `JSON.stringify(history)` writes {@link stateDict}. */
  toJSON(): GradientNormHistoryState {
    return this.stateDict();
  }

  /**
   * Replaces everything recorded with a {@link stateDict} (e.g. when resuming training). The
   * state is checked first; a rejected state changes nothing.
   */
  loadStateDict(state: GradientNormHistoryState): void {
    const steps = state?.steps;
    const entries = Object.entries(state?.norms ?? {});
    const ok =
      Array.isArray(steps) &&
      steps.every((s, i) => Number.isFinite(s) && (i === 0 || s > steps[i - 1]!)) &&
      entries.every(
        ([, s]) =>
          Array.isArray(s) &&
          s.length === steps.length &&
          s.every((v) => v === null || typeof v === "number"),
      );
    if (!ok) {
      throw new ExplainError(
        "invalid_state",
        `GradientNormHistory.loadStateDict: expected { steps: increasing numbers, norms: { group: one number or null per step } }, got ${Array.isArray(steps) ? `${steps.length} steps and series of lengths ${entries.map(([, s]) => (Array.isArray(s) ? s.length : typeof s)).join(", ") || "(none)"}` : `steps ${typeof steps}`}`,
      );
    }
    this.#steps.splice(0, this.#steps.length, ...steps);
    this.#norms.clear();
    for (const [name, series] of entries) {
      this.#norms.set(
        name,
        series.map((v) => v ?? Number.NaN),
      );
    }
  }
}

/** Options of {@link gradientNormChart}. */
export interface GradientNormChartOptions {
  /** Groups drawn, in order. Defaults to all, from the stem to the logits. */
  groups?: readonly string[];
  /** Title. Defaults to "Gradient L2 norm per block". */
  title?: string;
  /** Log10 y axis: norms differ by decades between blocks of a plain network. Defaults to true. */
  logY?: boolean;
  /** TensorBoard-style smoothing weight in [0, 1) (see viz's lineChart). Defaults to 0.6. */
  smoothing?: number;
  /** Picture width in px. Defaults to 720. */
  width?: number;
}

function groupsOf(
  history: GradientNormHistory,
  groups: readonly string[] | undefined,
  where: string,
): string[] {
  if (!(history instanceof GradientNormHistory) || history.steps.length === 0) {
    throw new ExplainError(
      "invalid_input",
      `${where}: expected a GradientNormHistory with at least one recorded step, got ${history instanceof GradientNormHistory ? "an empty one" : typeof history}`,
    );
  }
  const chosen = groups ?? history.groups;
  for (const g of chosen) history.norms(g); // throws unknown_group naming it
  return [...chosen];
}

/** Early blocks dark purple, late ones yellow (viridis over depth), so order reads at a glance. */
function depthColor(i: number, count: number): string {
  return colorForValue(count === 1 ? 0 : i / (count - 1), { scheme: "viridis" });
}

/**
 * The gradient norm of each block over steps, one curve per block coloured by depth. With
 * shortcuts the curves stay together; without, the early (dark) ones sink or blow up.
 */
export function gradientNormChart(
  history: GradientNormHistory,
  options: GradientNormChartOptions = {},
): Picture {
  const groups = groupsOf(history, options.groups, "gradientNormChart");
  const series: LineSeries[] = groups.map((name, i) => ({
    name,
    x: [...history.steps],
    y: [...history.norms(name)],
    color: depthColor(i, groups.length),
  }));
  return lineChart({
    series,
    title: options.title ?? "Gradient L2 norm per block",
    xLabel: "step",
    yLabel: "gradient L2 norm",
    logY: options.logY ?? true,
    smoothing: options.smoothing ?? 0.6,
    width: options.width ?? 720,
    // The legend has one 18 px row per block (ResNet-56: 29): make room for all of them.
    height: Math.max(400, 80 + 18 * series.length),
  });
}

/** Options of {@link gradientNormProfile}. */
export interface GradientNormProfileOptions {
  /** Recorded steps drawn, one curve each. Defaults to the first, middle and last step. */
  steps?: readonly number[];
  /** Title. Defaults to "Gradient L2 norm by depth (0 = <first group>, N = <last>)". */
  title?: string;
  /** Log10 y axis. Defaults to true. */
  logY?: boolean;
  /** Picture width in px. Defaults to 720. */
  width?: number;
}

/**
 * The gradient norm against depth (0 = stem … last = logits) at a few steps: the vanishing
 * gradient as one slope. Compare a plain and a residual run side by side.
 */
export function gradientNormProfile(
  history: GradientNormHistory,
  options: GradientNormProfileOptions = {},
): Picture {
  const groups = groupsOf(history, undefined, "gradientNormProfile");
  const all = history.steps;
  const steps = options.steps ?? [
    ...new Set([all[0]!, all[Math.floor((all.length - 1) / 2)]!, all.at(-1)!]),
  ];
  const series: LineSeries[] = steps.map((step, j) => {
    const at = all.indexOf(step);
    if (at < 0) {
      throw new ExplainError(
        "invalid_option",
        `gradientNormProfile options.steps: expected recorded steps (${all.length} from ${all[0]} to ${all.at(-1)}), got ${step}`,
      );
    }
    return {
      name: `step ${step}`,
      x: groups.map((_, i) => i),
      y: groups.map((g) => history.norms(g)[at]!),
      color: colorForValue(steps.length === 1 ? 1 : j / (steps.length - 1), {
        scheme: "blues",
        min: -0.5,
      }),
    };
  });
  return lineChart({
    series,
    title:
      options.title ??
      `Gradient L2 norm by depth (0 = ${groups[0]}, ${groups.length - 1} = ${groups.at(-1)})`,
    xLabel: "depth (block index)",
    yLabel: "gradient L2 norm",
    logY: options.logY ?? true,
    width: options.width ?? 720,
  });
}
