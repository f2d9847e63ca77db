// One optimisation step, in the order that matters: forward with BatchNorm in training mode,
// loss (with label smoothing) and gradients of the model's own variables (classifierGradients),
// a divergence check of the loss before anything is applied, global-norm clipping, the
// optimizer update (which refuses non-finite gradients, clipping or not).

import {
  type ClipResult,
  checkFiniteGradients,
  clipByGlobalNorm,
  clipByGlobalNormAsync,
  isHostMemoryBackend,
  OptimError,
} from "@cnnkit/optim";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { classifierGradients } from "./classifier-gradients.js";
import { type Float16Options, type Float16StepReport, halfGradients } from "./emulated-float16.js";
import { TrainError } from "./errors.js";

export interface TrainStepOptions {
  /** Label smoothing of the loss. Defaults to 0. */
  labelSmoothing?: number;
  /** Global-norm clipping threshold; `null` = off. Defaults to `null`. */
  gradClip?: number | null;
  /**
   * Sees the raw (unclipped) gradients, keyed by variable name, after the finite-loss check and
   * before the update; they are disposed when the step ends, so read them, do not keep them.
   * Defaults to none.
   */
  onGradients?: (grads: tf.NamedTensorMap) => void;
  /**
   * A finite loss above this also counts as diverged (see {@link divergenceLimit}): a run whose
   * loss blew up to 1e6 is as lost as one that went NaN. Defaults to `Infinity` (NaN/Inf only).
   */
  maxLoss?: number;
  /**
   * Emulated float16 mixed precision (see `Float16Options`): values rounded to half where a GPU
   * would store them, float32 master weights, loss scaling when `scaler` is set. It shows what
   * half precision does to the numbers and makes nothing faster (tfjs has no float16
   * arithmetic: each step is slower). Defaults to none (float32 throughout).
   */
  float16?: Float16Options;
}

/** How many times the loss of a uniform guess a training loss may reach before the run counts as diverged. */
export const DIVERGENCE_FACTOR = 1e4;

/**
 * The divergence rule: a training loss above `DIVERGENCE_FACTOR × ln(classes)`, i.e. ten
 * thousand times the cross-entropy of a uniform guess (where an untrained net starts: 2.30 for
 * CIFAR-10, so the limit is 23,026). No run that is still learning comes near it; a blown-up
 * one (`--max-lr 1e4`: 1.7e6) passes it within a few steps, before its weights overflow.
 */
export function divergenceLimit(classes: number): number {
  return DIVERGENCE_FACTOR * Math.log(classes);
}

export interface TrainStepResult {
  /** Mean loss of the batch (before the update). */
  loss: number;
  /** Correct top-1 predictions in the batch (before the update). */
  correct: number;
  /** Global gradient norm before clipping, when clipping is on. */
  gradNorm: number | null;
  /** With the `float16` option: the loss scale, whether the step was skipped, the gradients that underflowed. */
  float16?: Float16StepReport;
}

/**
 * The loss went NaN/Inf: thrown before the optimizer update, so the trainable weights are
 * untouched (BatchNorm's moving statistics did see the batch: the last good state is the
 * checkpoint on disk).
 */
export class NonFiniteLossError extends TrainError {
  static override readonly marker: string = "cnnkit.error.NonFiniteLossError";

  constructor(
    readonly value: number,
    what: string,
    /** The divergence limit a finite value passed, when that is why. */
    limit?: number,
  ) {
    super(
      "non_finite_loss",
      limit === undefined
        ? `${what} is ${value}: training diverged`
        : `${what} is ${value.toExponential(3)}, above the divergence limit ${limit.toExponential(3)} (${DIVERGENCE_FACTOR.toExponential(0)} × the loss of a uniform guess): training diverged`,
    );
  }
}

/** Throws {@link NonFiniteLossError} when the batch's loss is NaN/Infinity or above `maxLoss`. */
function checkLoss(loss: number, options: TrainStepOptions): void {
  if (!Number.isFinite(loss)) throw new NonFiniteLossError(loss, "the training loss");
  const maxLoss = options.maxLoss ?? Number.POSITIVE_INFINITY;
  if (loss > maxLoss) throw new NonFiniteLossError(loss, "the training loss", maxLoss);
}

/**
 * The second half of a step: the finite-loss check, `onGradients`, clipping, the optimizer
 * update. `loss` is the batch's mean loss, already read. Disposes nothing of `grads` (the caller's).
 */
export function applyBatchGradients(
  optimizer: tf.Optimizer,
  loss: number,
  grads: tf.NamedTensorMap,
  options: TrainStepOptions = {},
): { gradNorm: number | null } {
  return applyChecked(optimizer, loss, grads, options, null);
}

/**
 * What a GPU backend's step read asynchronously, beside the loss: the clipping (or the finite
 * check without clipping), or the error it threw.
 */
type DeviceCheck = { clip: ClipResult<tf.NamedTensorMap> | null } | { error: unknown };

/**
 * On a backend that is not host memory (webgpu, webgl), the one read `applyGradients` would make
 * synchronously, made asynchronously: clipping's norms, or the finite check. `null` elsewhere.
 */
function deviceCheck(
  grads: tf.NamedTensorMap,
  gradClip: number | null,
): Promise<DeviceCheck> | null {
  if (isHostMemoryBackend()) return null;
  const check =
    gradClip === null
      ? checkFiniteGradients(grads).then(() => null)
      : clipByGlobalNormAsync(grads, gradClip);
  return check.then(
    (clip) => ({ clip }),
    (error: unknown) => ({ error }),
  );
}

/** {@link applyBatchGradients}, with what {@link deviceCheck} read when it ran. */
function applyChecked(
  optimizer: tf.Optimizer,
  loss: number,
  grads: tf.NamedTensorMap,
  options: TrainStepOptions,
  checked: DeviceCheck | null,
): { gradNorm: number | null } {
  const gradClip = options.gradClip ?? null;
  let gradNorm: number | null = null;
  let clippedGrads: tf.NamedTensorMap | null = null;
  try {
    checkLoss(loss, options);
    options.onGradients?.(grads);
    try {
      if (checked !== null && "error" in checked) throw checked.error;
      if (gradClip !== null) {
        const clipped = checked?.clip ?? clipByGlobalNorm(grads, gradClip);
        clippedGrads = clipped.grads;
        gradNorm = clipped.totalNorm;
      }
      optimizer.applyGradients(clippedGrads ?? grads);
    } catch (error) {
      // A non-finite gradient norm is the same divergence one step earlier than the loss shows
      // it; @cnnkit/optim refuses NaN/Inf gradients before touching anything (with clipping
      // off, nothing else looks at the gradients): the same divergence.
      if (OptimError.isInstance(error) && error.code === "non_finite_norm") {
        throw new NonFiniteLossError(Number.NaN, "the gradient norm");
      }
      if (OptimError.isInstance(error) && error.code === "non_finite_gradient") {
        throw new NonFiniteLossError(Number.NaN, "a gradient (NaN or Infinity)");
      }
      throw error;
    }
    return { gradNorm };
  } finally {
    if (clippedGrads) tf.dispose(Object.values(clippedGrads));
    // Clipped on the device while the loss was read, but the loss said not to apply them.
    if (checked !== null && "clip" in checked && checked.clip && !clippedGrads) {
      tf.dispose(Object.values(checked.clip.grads));
    }
  }
}

/**
 * Runs one step on `x` (`[b, 32, 32, 3]` float32) and `y` (`[b]` int32 labels). Leaves no
 * tensors behind. Throws {@link NonFiniteLossError} when the loss or the gradient norm is not
 * finite, without applying the update. With `float16` and a scaler, a half gradient that
 * overflowed skips the update instead (the scaler backs off), as PyTorch's GradScaler does.
 */
export async function trainStep(
  model: LayersModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  options: TrainStepOptions = {},
): Promise<TrainStepResult> {
  if (options.float16) return float16Step(model, optimizer, x, y, options, options.float16);
  const { value, correct, grads } = classifierGradients(model, x, y, {
    labelSmoothing: options.labelSmoothing ?? 0,
  });
  try {
    // On a GPU backend the gradients are checked (or their norms read) in the same round trip.
    const [lossValue, correctValue, checked] = await Promise.all([
      value.data(),
      correct.data(),
      deviceCheck(grads, options.gradClip ?? null),
    ]);
    const loss = lossValue[0]!;
    const { gradNorm } = applyChecked(optimizer, loss, grads, options, checked);
    return { loss, correct: correctValue[0]!, gradNorm };
  } finally {
    tf.dispose([value, correct, ...Object.values(grads)]);
  }
}

/** `trainStep` in emulated float16 (emulated-float16.ts): the scaled half pass, skip or apply, the scaler's update. */
async function float16Step(
  model: LayersModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  options: TrainStepOptions,
  { scaler }: Float16Options,
): Promise<TrainStepResult> {
  const lossScale = scaler?.scale ?? 1;
  const half = halfGradients(model, x, y, {
    labelSmoothing: options.labelSmoothing ?? 0,
    lossScale,
    inverseScale: scaler?.inverseScale ?? 1,
  });
  const { value, correct, grads } = half;
  try {
    const [lossValue, correctValue] = await Promise.all([value.data(), correct.data()]);
    const loss = lossValue[0]!;
    // A diverged forward pass (NaN loss, or activations past 65,504) is divergence, not a scale
    // to back off from: the scale only changes the backward pass.
    checkLoss(loss, options);
    const report = (skipped: boolean): Float16StepReport => ({
      lossScale,
      skipped,
      weightGradients: half.weightGradients,
      activationGradients: half.activationGradients,
    });
    const base = { loss, correct: correctValue[0]! };
    if (half.nonFinite > 0 && scaler) {
      scaler.update(true);
      return { ...base, gradNorm: null, float16: report(true) };
    }
    // Without a scaler an overflow reaches the optimizer, which refuses it as in float32.
    const { gradNorm } = applyBatchGradients(optimizer, loss, grads, options);
    scaler?.update(false);
    return { ...base, gradNorm, float16: report(false) };
  } finally {
    tf.dispose([value, correct, ...Object.values(grads)]);
  }
}
