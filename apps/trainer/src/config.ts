// The trainer's configuration: presets, a config file (JSON or YAML) and flags, resolved in that
// order into one fully-typed object that is printed and saved with every run.
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { TrainerError } from "./errors.js";

export const MODEL_NAMES = [
  "fast-resnet",
  "small-resnet",
  "resnet20",
  "resnet32",
  "resnet56",
  "resnet18",
] as const;
export type ModelName = (typeof MODEL_NAMES)[number];
export const BACKEND_CHOICES = ["auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export const PRESET_NAMES = ["seed", "cpu", "cpu-long", "full", "smoke"] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** Everything a training run depends on. Saved as `config.json` in the run directory. */
export interface TrainConfig {
  /** The preset the other fields started from. */
  preset: PresetName;
  model: ModelName;
  /** Stage widths of `small-resnet` (e.g. [64, 128, 256]) or of the CIFAR ResNets ([16, 32, 64]). */
  widths: number[];
  /**
   * `@cnnkit/resnet`'s shortcut mode: `"auto"` is the standard block (identity, or a projection
   * where the shape changes); `"none"` removes the residual paths (the residuals experiment).
   */
  shortcut: "auto" | "none";
  epochs: number;
  batchSize: number;
  /**
   * `"adamw"`; `"sgd"` (Nesterov, PyTorch's parametrisation); `"decoupled-sgd"`: Nesterov SGD
   * whose `maxLr` and `weightDecay` are per 1,024 examples and decoupled (airbench's numbers,
   * converted by `@cnnkit/optim`'s `decoupledSGD`), with `biasLrScale` on BatchNorm biases.
   */
  optimizer: "adamw" | "sgd" | "decoupled-sgd";
  /** Peak learning rate of the schedule. */
  maxLr: number;
  weightDecay: number;
  /**
   * `"one-cycle"`: OneCycleLR (warm-up for `pctStart` of the steps, cosine down; it drives
   * momentum/beta1 too). `"triangle"`: the fast recipe's: linear from 0.2·maxLr to maxLr at
   * `pctStart` of the steps, then down to 0.07·maxLr; momentum stays `momentum`.
   */
  schedule: "one-cycle" | "triangle";
  /** Fraction of the steps before the peak learning rate. */
  pctStart: number;
  /** SGD momentum when the schedule does not drive it (`"triangle"`). */
  momentum: number;
  /** Learning-rate multiplier of BatchNorm biases with `"decoupled-sgd"` (airbench: 64). */
  biasLrScale: number;
  /**
   * Lookahead averaging (`@cnnkit/optim`'s Lookahead): every 5 steps the weights move to an
   * average that trails them more and more as training ends, and the run ends on the average.
   */
  lookahead: boolean;
  /**
   * `fast-resnet`: compute the frozen 2×2 whitening stem from the first 5,000 training images
   * (else the kernel of white data, i.e. no whitening).
   */
  whitening: boolean;
  /** `fast-resnet`: epochs during which the whitening stem's bias trains (then it is frozen). */
  whitenBiasEpochs: number;
  /**
   * Test-time augmentation of the final evaluation: 0 none, 1 + mirror, 2 + mirrored one-pixel
   * shifts (6 passes). The plain accuracy is always reported beside it.
   */
  tta: 0 | 1 | 2;
  /** Global-norm gradient clipping threshold; `null` disables clipping. */
  gradClip: number | null;
  labelSmoothing: number;
  /** Decay of an exponential moving average of the weights used for evaluation; `null` = off. */
  ema: number | null;
  /**
   * `"fp32"`: float32 throughout. `"fp16-emulated"`: mixed precision emulated in float32
   * (@cnnkit/train's `float16` option): values rounded to float16 where a GPU would store them,
   * float32 master weights. It shows what half precision does to the gradients; tfjs has no
   * float16 arithmetic, so it is slower than fp32, never faster. One model (replicas 1); the
   * evaluation runs in float32.
   */
  precision: "fp32" | "fp16-emulated";
  /**
   * With `"fp16-emulated"`: dynamic loss scaling (PyTorch's GradScaler: 2¹⁶, halved and the step
   * skipped on overflow, doubled after 2000 clean steps). `false` lets small gradients flush to zero.
   */
  lossScaling: boolean;
  /**
   * Training augmentation: random crop after `padding` pixels of zero or reflect padding (a
   * translation), left-right flip (random, or alternating: each image flipped every other
   * epoch), cutout square side (0 = off).
   */
  augment: {
    crop: boolean;
    padding: number;
    paddingMode: "zero" | "reflect";
    flip: boolean;
    alternateFlip: boolean;
    cutout: number;
  };
  /** `"cifar10"`: the official train mean/std. `"none"`: pixels/255 only (the pitfall experiment). */
  normalize: "cifar10" | "none";
  /** Train on the first N shuffled training images only (class-balanced); `null` = all 50,000. */
  trainSubset: number | null;
  /** Evaluate on the first N test images only; `null` = all 10,000. */
  testSubset: number | null;
  seed: number;
  backend: BackendChoice;
  /**
   * Data-parallel replicas of the model on this machine (wasm and cpu backends): each takes an
   * equal slice of every batch on its share of the cores, and the gradients are averaged.
   * BatchNorm then normalises over each replica's slice. 1 = one model on all cores; `"auto"` =
   * one per core while each gets at least 32 images of the batch, on wasm and cpu (1 elsewhere).
   */
  replicas: number | "auto";
  /**
   * Run each training step as one ONNX Runtime session (@cnnkit/backends'
   * `onnxRuntimeTrainingStep`: forward, loss and every gradient in one graph) instead of tfjs
   * kernel by kernel; the update stays the run's optimizer. Needs the convolutions on ONNX
   * Runtime (wasm or cpu with onnxruntime-node, x86-64), one model (replicas 1), fp32 and layers
   * the graph writes. `true` requires it; `"auto"` (the default) takes it where all of that
   * holds and says why not otherwise; `false` never.
   */
  stepGraph: boolean | "auto";
  /** Where CIFAR-10 is (or is cached): a directory or an archive path. */
  dataDir: string | null;
  /** Mirror of the official archive: http(s)://, file:// or a path. */
  dataUrl: string | null;
  /** Run directory; `null` = `runs/<timestamp>`. */
  out: string | null;
  /** Export, verify and report after training. */
  export: boolean;
  /** Number of training steps between progress lines when not on a TTY. */
  logEvery: number;
}

const SEED: TrainConfig = {
  preset: "seed",
  model: "small-resnet",
  widths: [64, 128, 256],
  shortcut: "auto",
  epochs: 10,
  batchSize: 128,
  optimizer: "adamw",
  maxLr: 3e-4,
  weightDecay: 1e-4,
  schedule: "one-cycle",
  pctStart: 0.3,
  momentum: 0.9,
  biasLrScale: 1,
  lookahead: false,
  whitening: false,
  whitenBiasEpochs: 0,
  tta: 0,
  gradClip: 1.0,
  labelSmoothing: 0,
  ema: null,
  precision: "fp32",
  lossScaling: true,
  augment: {
    crop: true,
    padding: 4,
    paddingMode: "zero",
    flip: true,
    alternateFlip: false,
    cutout: 0,
  },
  normalize: "cifar10",
  trainSubset: null,
  testSubset: null,
  seed: 0,
  backend: "auto",
  replicas: "auto",
  stepGraph: "auto",
  dataDir: null,
  dataUrl: null,
  out: null,
  export: true,
  logEvery: 20,
};

/**
 * The fast recipe (airbench94's, arXiv 2404.00498, with a residual connection in each group as
 * in Page's ResNet-9): `fastResNet` with a whitening stem, decoupled Nesterov SGD with a 64×
 * learning rate on BatchNorm biases, a triangular schedule, label smoothing 0.2, lookahead,
 * reflect-padded translation by 2 and alternating flip, test-time augmentation at the end.
 * The presets below pick its width and length by measurement (apps/trainer/README.md).
 */
const FAST: TrainConfig = {
  ...SEED,
  model: "fast-resnet",
  widths: [64, 256, 256],
  epochs: 10,
  batchSize: 1024,
  optimizer: "decoupled-sgd",
  maxLr: 11.5,
  weightDecay: 0.0153,
  schedule: "triangle",
  pctStart: 0.23,
  momentum: 0.85,
  biasLrScale: 64,
  lookahead: true,
  whitening: true,
  whitenBiasEpochs: 3,
  tta: 2,
  // One model on every core: batches of 1,024 keep the kernels large enough to share.
  replicas: 1,
  gradClip: null,
  labelSmoothing: 0.2,
  augment: {
    crop: true,
    padding: 2,
    paddingMode: "reflect",
    flip: true,
    alternateFlip: true,
    cutout: 0,
  },
};

/** The presets. `seed` is the original recipe; the others are the fast recipe at three sizes. */
export const PRESETS: Record<PresetName, TrainConfig> = {
  seed: SEED,
  // The default: ≥ 85% in ≤ 15 minutes on 2 CPU cores, every phase counted.
  cpu: { ...FAST, preset: "cpu", widths: [24, 96, 96], epochs: 4 },
  // ≥ 90% in ≤ 45 minutes on 2 CPU cores.
  // Batch 512, chosen (and measured) when GELU's intermediates filled the wasm heap at 1,024; the
  // fused GELU kernels fixed that, but 1,024 has not been re-measured for this preset.
  "cpu-long": { ...FAST, preset: "cpu-long", widths: [32, 128, 128], epochs: 8, batchSize: 512 },
  // For a GPU backend (or a very long CPU run): 94%+.
  full: { ...FAST, preset: "full", widths: [128, 384, 384], epochs: 12 },
  // A one-minute run on a few hundred real images, for tests.
  smoke: {
    ...SEED,
    preset: "smoke",
    widths: [8, 16, 32],
    epochs: 2,
    batchSize: 32,
    maxLr: 3e-3,
    trainSubset: 256,
    testSubset: 128,
    logEvery: 2,
  },
};

export const DEFAULT_WIDTHS: Record<ModelName, number[]> = {
  "fast-resnet": [64, 256, 256],
  "small-resnet": [64, 128, 256],
  resnet20: [16, 32, 64],
  resnet32: [16, 32, 64],
  resnet56: [16, 32, 64],
  resnet18: [64, 128, 256, 512],
};

/** A partial configuration as it comes from a file or flags (nested `augment` may be partial). */
export type ConfigPatch = Partial<Omit<TrainConfig, "augment">> & {
  augment?: Partial<TrainConfig["augment"]>;
};

/** Reads a JSON or YAML config file into a patch; unknown keys are errors, not silently ignored. */
export async function readConfigFile(path: string): Promise<ConfigPatch> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new TrainerError("config_not_found", `config file ${path}: cannot be read`, { cause });
  }
  let data: unknown;
  try {
    data = [".yaml", ".yml"].includes(extname(path).toLowerCase())
      ? parseYaml(text)
      : JSON.parse(text);
  } catch (cause) {
    throw new TrainerError(
      "config_invalid",
      `config file ${path}: not valid ${extname(path) === ".json" ? "JSON" : "YAML"}: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new TrainerError("config_invalid", `config file ${path}: expected a mapping of options`);
  }
  const known = new Set<string>(Object.keys(SEED));
  for (const key of Object.keys(data)) {
    if (!known.has(key)) {
      throw new TrainerError(
        "config_invalid",
        `config file ${path}: unknown option "${key}" (known: ${[...known].join(", ")})`,
      );
    }
  }
  const augment = (data as { augment?: unknown }).augment;
  if (augment !== undefined) {
    if (augment === null || typeof augment !== "object" || Array.isArray(augment)) {
      throw new TrainerError("config_invalid", `config file ${path}: augment: expected a mapping`);
    }
    const knownAugment = new Set<string>(Object.keys(SEED.augment));
    for (const key of Object.keys(augment)) {
      if (!knownAugment.has(key)) {
        throw new TrainerError(
          "config_invalid",
          `config file ${path}: unknown option "augment.${key}" (known: ${[...knownAugment].join(", ")})`,
        );
      }
    }
  }
  return data as ConfigPatch;
}

/** Applies patches in order over a preset and validates the result. */
export function resolveConfig(preset: PresetName, ...patches: ConfigPatch[]): TrainConfig {
  const base = PRESETS[preset];
  if (!base) {
    throw new TrainerError(
      "config_invalid",
      `preset: expected one of ${PRESET_NAMES.join(", ")}, got "${preset}"`,
    );
  }
  let config: TrainConfig = { ...base, augment: { ...base.augment }, widths: [...base.widths] };
  for (const patch of patches) {
    const { augment, ...rest } = patch;
    const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
    config = { ...config, ...defined, augment: { ...config.augment, ...augment } };
    // A new model without explicit widths takes that model's widths (an unknown model is
    // validateConfig's to name).
    if (patch.model !== undefined && patch.widths === undefined && DEFAULT_WIDTHS[config.model]) {
      config.widths = [...DEFAULT_WIDTHS[config.model]];
    }
  }
  config.preset = preset;
  validateConfig(config);
  return config;
}

function fail(option: string, expected: string, got: unknown): never {
  throw new TrainerError(
    "config_invalid",
    `${option}: expected ${expected}, got ${JSON.stringify(got)}`,
  );
}

function positiveInt(option: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0)
    fail(option, "a positive integer", v);
}

function boolean(option: string, v: unknown): void {
  // A string such as "no" must not read as true.
  if (typeof v !== "boolean") fail(option, "true or false", v);
}

function nonNegative(option: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) fail(option, "a number ≥ 0", v);
}

/** Throws a `TrainerError` naming the first invalid option. */
export function validateConfig(c: TrainConfig): void {
  if (!MODEL_NAMES.includes(c.model)) fail("model", `one of ${MODEL_NAMES.join(", ")}`, c.model);
  if (!BACKEND_CHOICES.includes(c.backend)) {
    fail("backend", `one of ${BACKEND_CHOICES.join(", ")}`, c.backend);
  }
  const stages = c.model === "resnet18" ? 4 : 3;
  if (!Array.isArray(c.widths) || c.widths.length !== stages) {
    fail("widths", `${stages} stage widths for ${c.model}`, c.widths);
  }
  for (const [i, w] of c.widths.entries()) positiveInt(`widths[${i}]`, w);
  if (c.shortcut !== "auto" && c.shortcut !== "none") {
    fail("shortcut", '"auto" or "none"', c.shortcut);
  }
  positiveInt("epochs", c.epochs);
  positiveInt("batchSize", c.batchSize);
  positiveInt("logEvery", c.logEvery);
  if (!["adamw", "sgd", "decoupled-sgd"].includes(c.optimizer)) {
    fail("optimizer", '"adamw", "sgd" or "decoupled-sgd"', c.optimizer);
  }
  if (c.schedule !== "one-cycle" && c.schedule !== "triangle") {
    fail("schedule", '"one-cycle" or "triangle"', c.schedule);
  }
  if (typeof c.momentum !== "number" || !(c.momentum >= 0 && c.momentum < 1)) {
    fail("momentum", "a number in [0, 1)", c.momentum);
  }
  if (c.optimizer === "decoupled-sgd" && !(c.momentum > 0)) {
    fail("momentum", 'a number in (0, 1) with optimizer "decoupled-sgd"', c.momentum);
  }
  if (
    typeof c.biasLrScale !== "number" ||
    !(c.biasLrScale > 0) ||
    !Number.isFinite(c.biasLrScale)
  ) {
    fail("biasLrScale", "a number > 0", c.biasLrScale);
  }
  if (c.biasLrScale !== 1 && c.optimizer !== "decoupled-sgd") {
    fail("biasLrScale", '1 unless optimizer is "decoupled-sgd"', c.biasLrScale);
  }
  boolean("lookahead", c.lookahead);
  boolean("whitening", c.whitening);
  if (c.whitening && c.model !== "fast-resnet") {
    fail("whitening", `false for ${c.model} (only fast-resnet has a whitening stem)`, c.whitening);
  }
  if (!Number.isInteger(c.whitenBiasEpochs) || c.whitenBiasEpochs < 0) {
    fail("whitenBiasEpochs", "an integer ≥ 0", c.whitenBiasEpochs);
  }
  if (c.tta !== 0 && c.tta !== 1 && c.tta !== 2) fail("tta", "0, 1 or 2", c.tta);
  if (typeof c.maxLr !== "number" || !(c.maxLr > 0)) fail("maxLr", "a number > 0", c.maxLr);
  nonNegative("weightDecay", c.weightDecay);
  if (typeof c.pctStart !== "number" || !(c.pctStart > 0 && c.pctStart < 1)) {
    fail("pctStart", "a number in (0, 1)", c.pctStart);
  }
  if (c.gradClip !== null && !(typeof c.gradClip === "number" && c.gradClip > 0)) {
    fail("gradClip", "a number > 0 or null", c.gradClip);
  }
  if (typeof c.labelSmoothing !== "number" || !(c.labelSmoothing >= 0 && c.labelSmoothing < 1)) {
    fail("labelSmoothing", "a number in [0, 1)", c.labelSmoothing);
  }
  if (c.ema !== null && !(typeof c.ema === "number" && c.ema > 0 && c.ema < 1)) {
    fail("ema", "a decay in (0, 1) or null", c.ema);
  }
  if (c.precision !== "fp32" && c.precision !== "fp16-emulated") {
    fail("precision", '"fp32" or "fp16-emulated"', c.precision);
  }
  boolean("lossScaling", c.lossScaling);
  if (!c.lossScaling && c.precision !== "fp16-emulated") {
    fail("lossScaling", 'true unless precision is "fp16-emulated"', c.lossScaling);
  }
  if (c.precision === "fp16-emulated" && c.replicas !== "auto" && c.replicas !== 1) {
    // The replicas would compute float32 gradients.
    fail("replicas", '1 (or "auto") with precision "fp16-emulated"', c.replicas);
  }
  boolean("augment.crop", c.augment.crop);
  boolean("augment.flip", c.augment.flip);
  boolean("augment.alternateFlip", c.augment.alternateFlip);
  if (c.augment.paddingMode !== "zero" && c.augment.paddingMode !== "reflect") {
    fail("augment.paddingMode", '"zero" or "reflect"', c.augment.paddingMode);
  }
  nonNegative("augment.padding", c.augment.padding);
  nonNegative("augment.cutout", c.augment.cutout);
  if (c.normalize !== "cifar10" && c.normalize !== "none") {
    fail("normalize", '"cifar10" or "none"', c.normalize);
  }
  if (c.trainSubset !== null) positiveInt("trainSubset", c.trainSubset);
  if (c.testSubset !== null) positiveInt("testSubset", c.testSubset);
  if (c.replicas !== "auto") positiveInt("replicas", c.replicas);
  if (c.stepGraph !== "auto") boolean("stepGraph", c.stepGraph);
  if (c.stepGraph === true && c.replicas !== "auto" && c.replicas !== 1) {
    fail("replicas", '1 (or "auto": 1 then) with stepGraph true', c.replicas);
  }
  if (c.stepGraph === true && c.precision !== "fp32") {
    fail("precision", '"fp32" with stepGraph true', c.precision);
  }
  if (c.replicas !== "auto" && c.replicas > c.batchSize) {
    fail(
      "replicas",
      `at most batchSize (${c.batchSize}): each replica needs rows of the batch`,
      c.replicas,
    );
  }
  if (
    c.model === "fast-resnet" &&
    c.replicas !== 1 &&
    c.whitenBiasEpochs > 0 &&
    c.whitenBiasEpochs < c.epochs
  ) {
    // The replicas' variable lists are fixed when they start; freezing the stem's bias mid-run
    // would change the main model's alone.
    fail(
      "replicas",
      `1 for fast-resnet while whitenBiasEpochs (${c.whitenBiasEpochs}) freezes the stem's bias mid-run`,
      c.replicas,
    );
  }
  if (typeof c.seed !== "number" || !Number.isInteger(c.seed) || c.seed < 0) {
    fail("seed", "an integer ≥ 0", c.seed);
  }
  for (const option of ["dataDir", "dataUrl", "out"] as const) {
    const v = c[option] as unknown;
    if (v !== null && (typeof v !== "string" || v === ""))
      fail(option, "a path (a non-empty string) or null", v);
  }
  boolean("export", c.export);
}
