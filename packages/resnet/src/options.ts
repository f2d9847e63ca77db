// The options every model builder shares, their PyTorch-matching defaults, and validation.
import { ResNetError } from "./errors.js";

/**
 * `"auto"`: the identity when stride is 1 and channels match, else conv1x1(stride) + BN.
 * `"none"`: no residual path at all (a plain network, for the "why residuals help" experiment).
 */
export type ShortcutMode = "auto" | "none";

/** Options of the BatchNormalization and initialisation every block shares. */
export interface LayerDefaultsOptions {
  /**
   * BatchNorm epsilon. Defaults to `1e-5` (PyTorch's; tfjs's own default is 1e-3, which
   * changes every normalised activation).
   */
  batchNormEpsilon?: number;
  /**
   * BatchNorm moving-average momentum in Keras convention: `new = momentum * old +
   * (1 - momentum) * batch`. Defaults to `0.9` (= PyTorch's `momentum=0.1`; tfjs's own 0.99
   * makes the moving statistics ten times slower to follow training).
   */
  batchNormMomentum?: number;
  /**
   * Update moving variances with the unbiased batch variance (`n/(n-1)`), as PyTorch and
   * Keras-on-TensorFlow do; tfjs-layers uses the biased one. Defaults to `true`.
   */
  unbiasedMovingVariance?: boolean;
  /**
   * Seed for the weight initialisers (layer k, from 0, uses `seed + k + 1`), for reproducible models.
   * Defaults to `undefined`: a fresh random initialisation each build.
   */
  seed?: number;
}

/** Options of every model builder (`smallResNet`, `resnet20`, …). */
export interface ResNetOptions extends LayerDefaultsOptions {
  /** Number of classes of the `logits` layer. Defaults to `10` (CIFAR-10). */
  numClasses?: number;
  /** Channels of each stage; the stem uses the first. Defaults to the network's own widths. */
  widths?: readonly number[];
  /** Input shape, NHWC without the batch. Defaults to `[32, 32, 3]` (CIFAR). */
  inputShape?: readonly [number, number, number];
  /** The residual path of every block (see {@link ShortcutMode}). Defaults to `"auto"`. */
  shortcut?: ShortcutMode;
  /** The model's name. Defaults to the network's name, e.g. `"small_resnet"`. */
  name?: string;
}

/** {@link LayerDefaultsOptions} with every default applied. */
export interface ResolvedLayerDefaults {
  readonly batchNormEpsilon: number;
  readonly batchNormMomentum: number;
  readonly unbiasedMovingVariance: boolean;
  readonly seed: number | undefined;
}

/** {@link ResNetOptions} with every default applied and checked. */
export interface ResolvedResNetOptions extends ResolvedLayerDefaults {
  readonly numClasses: number;
  readonly widths: readonly number[];
  readonly inputShape: readonly [number, number, number];
  readonly shortcut: ShortcutMode;
  readonly name: string;
}

export function invalidOption(option: string, expected: string, received: unknown): never {
  throw new ResNetError(
    "invalid_option",
    `${option}: expected ${expected}, got ${JSON.stringify(received) ?? String(received)}`,
  );
}

function isPositiveInt(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) > 0;
}

export function resolveLayerDefaults(options: LayerDefaultsOptions): ResolvedLayerDefaults {
  const {
    batchNormEpsilon = 1e-5,
    batchNormMomentum = 0.9,
    unbiasedMovingVariance = true,
    seed,
  } = options;
  if (!(Number.isFinite(batchNormEpsilon) && batchNormEpsilon > 0)) {
    invalidOption("batchNormEpsilon", "a positive number", batchNormEpsilon);
  }
  if (!(Number.isFinite(batchNormMomentum) && batchNormMomentum >= 0 && batchNormMomentum < 1)) {
    invalidOption(
      "batchNormMomentum",
      "a number in [0, 1) in Keras convention (PyTorch's momentum 0.1 is 0.9 here)",
      batchNormMomentum,
    );
  }
  if (typeof unbiasedMovingVariance !== "boolean") {
    invalidOption("unbiasedMovingVariance", "a boolean", unbiasedMovingVariance);
  }
  if (seed !== undefined && !(Number.isSafeInteger(seed) && seed >= 0)) {
    invalidOption("seed", "an integer ≥ 0", seed);
  }
  return { batchNormEpsilon, batchNormMomentum, unbiasedMovingVariance, seed };
}

export function resolveShortcut(shortcut: unknown, option = "shortcut"): ShortcutMode {
  if (shortcut === undefined) return "auto";
  if (shortcut !== "auto" && shortcut !== "none")
    invalidOption(option, '"auto" or "none"', shortcut);
  return shortcut;
}

export function resolveResNetOptions(
  options: ResNetOptions,
  defaults: { widths: readonly number[]; name: string; stages?: number },
): ResolvedResNetOptions {
  const {
    numClasses = 10,
    widths = defaults.widths,
    inputShape = [32, 32, 3],
    shortcut,
    name = defaults.name,
  } = options;
  if (!isPositiveInt(numClasses)) invalidOption("numClasses", "a positive integer", numClasses);
  if (!Array.isArray(widths) || widths.length === 0 || !widths.every(isPositiveInt)) {
    invalidOption("widths", "a non-empty array of positive integers", widths);
  }
  if (defaults.stages !== undefined && widths.length !== defaults.stages) {
    invalidOption("widths", `${defaults.stages} stage widths for ${defaults.name}`, widths);
  }
  if (!Array.isArray(inputShape) || inputShape.length !== 3 || !inputShape.every(isPositiveInt)) {
    invalidOption("inputShape", "[height, width, channels] of positive integers", inputShape);
  }
  if (typeof name !== "string" || name.length === 0) {
    invalidOption("name", "a non-empty string", name);
  }
  return {
    ...resolveLayerDefaults(options),
    numClasses,
    widths: [...widths],
    inputShape: [inputShape[0], inputShape[1], inputShape[2]],
    shortcut: resolveShortcut(shortcut),
    name,
  };
}
