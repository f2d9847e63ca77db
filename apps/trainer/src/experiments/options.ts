// What every experiment shares: where it writes, how big it is, the data, and the config of one
// arm (the seed recipe shrunk to minutes on 2 cores, then the experiment's, the user's and the
// arm's own settings, in that order, so an arm's defining setting always wins).
import { resolve } from "node:path";
import type { Cifar10 } from "@cnnkit/cifar10";
import { type ConfigPatch, resolveConfig, type TrainConfig } from "../config.js";
import { loadDataset, type RunData, selectRunData } from "../data.js";
import { TrainerError } from "../errors.js";
import { Progress } from "../progress.js";

export interface ExperimentOptions {
  /** Root folder; an experiment writes to `<out>/<experiment>/<arm>/`. Defaults to `runs/experiments`. */
  out?: string;
  /**
   * Grows the data: `scale` × 1,000 training and × 500 test images. Widths, model and epochs
   * are set with `patch` (the CLI's `--widths`, `--model`, `--epochs`). Defaults to 1.
   */
  scale?: number;
  /** Config fields applied over every arm's base (not over the arm's defining field). Defaults to `{}`. */
  patch?: ConfigPatch;
  /**
   * The quickest form, to check that an experiment runs (tests, CI), not to learn from: 64
   * training and 32 test images, widths [4, 8, 16], one epoch; `patch` still wins. Defaults to false.
   */
  smoke?: boolean;
  /** Data already loaded and subset, used as is (tests pass synthetic data). Defaults to loading CIFAR-10 as the config says. */
  data?: RunData;
  /** Record per-block gradient norms every this many steps. Defaults to 1. */
  gradEvery?: number;
  /** `features`: a trained run directory to explain instead of training a fresh model. Defaults to `null`. */
  run?: string | null;
  /** `features`: index of the test image whose feature maps are drawn. Defaults to 0. */
  image?: number;
  /** Makes the progress display of each arm (one per run: its ETA counts from the run's start). Defaults to a `Progress` on stderr. */
  progress?: () => Progress;
  /** Where one-line messages go. Defaults to stderr. */
  log?: (line: string) => void;
}

export interface ResolvedExperimentOptions {
  out: string;
  scale: number;
  patch: ConfigPatch;
  smoke: boolean;
  data: RunData | null;
  gradEvery: number;
  run: string | null;
  image: number;
  progress: () => Progress;
  log: (line: string) => void;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new TrainerError("config_invalid", `${name}: expected a positive integer, got ${value}`);
  }
  return value;
}

export function resolveExperimentOptions(
  options: ExperimentOptions = {},
): ResolvedExperimentOptions {
  const image = options.image ?? 0;
  if (!Number.isInteger(image) || image < 0) {
    throw new TrainerError(
      "config_invalid",
      `image: expected a test image index ≥ 0, got ${image}`,
    );
  }
  return {
    out: resolve(options.out ?? "runs/experiments"),
    scale: positiveInteger("scale", options.scale ?? 1),
    patch: options.smoke ? { ...SMOKE, ...defined(options.patch ?? {}) } : (options.patch ?? {}),
    smoke: options.smoke ?? false,
    data: options.data ?? null,
    gradEvery: positiveInteger("gradEvery", options.gradEvery ?? 1),
    run: options.run ?? null,
    image,
    progress: options.progress ?? (() => new Progress({ every: 10 })),
    log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
  };
}

/** `smoke`: every arm in seconds, on real data. */
const SMOKE: ConfigPatch = {
  trainSubset: 64,
  testSubset: 32,
  widths: [4, 8, 16],
  epochs: 1,
};

/** The fields of a patch that are set (a flag not given is `undefined`, and must not unset `SMOKE`'s). */
function defined(patch: ConfigPatch): ConfigPatch {
  return Object.fromEntries(
    Object.entries(patch).filter(([, v]) => v !== undefined),
  ) as ConfigPatch;
}

/**
 * Sized for a 2-core CPU: a few minutes per arm on the wasm backend. A narrow SmallResNet with
 * AdamW and OneCycleLR (the seed recipe, shrunk): its plain/residual, augmentation and pitfall
 * arms teach with the textbook network.
 */
const BASE: ConfigPatch = {
  widths: [8, 16, 32],
  weightDecay: 5e-4,
  epochs: 3,
  batchSize: 32,
  maxLr: 4e-3,
  labelSmoothing: 0,
  export: false,
  logEvery: 10,
  // One model, on every core: the arms compare recipes, not data-parallel training.
  replicas: 1,
};

/** The config of one arm: base, then the experiment's, the user's, and the arm's own fields. */
export function armConfig(
  o: ResolvedExperimentOptions,
  experiment: ConfigPatch,
  arm: ConfigPatch = {},
): TrainConfig {
  const subsets: ConfigPatch = { trainSubset: 1000 * o.scale, testSubset: 500 * o.scale };
  return resolveConfig("seed", BASE, subsets, experiment, o.patch, arm);
}

/** Loads CIFAR-10 once per process and subsets it per arm (arms of one experiment share data). */
export class DataSource {
  #full: Promise<Cifar10> | null = null;
  constructor(private readonly injected: RunData | null) {}

  async forConfig(config: TrainConfig): Promise<RunData> {
    if (this.injected) return this.injected;
    this.#full ??= loadDataset(config);
    return selectRunData(await this.#full, config);
  }
}
