// One optimisation step, in the order that matters: forward with BatchNorm in training mode,
// loss (with label smoothing), gradients of the model's own variables, a finite-loss check
// before anything is applied, global-norm clipping, the optimizer update.

import { softmaxCrossEntropy } from "@cnnkit/metrics/tfjs";
import { clipByGlobalNorm } from "@cnnkit/optim";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { TrainerError } from "./errors.js";

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
}

export interface TrainStepResult {
  /** Mean loss of the batch (before the update). */
  loss: number;
  /** Correct top-1 predictions in the batch (before the update). */
  correct: number;
  /** Global gradient norm before clipping, when clipping is on. */
  gradNorm: number | null;
}

/**
 * The loss went NaN/Inf: thrown before the optimizer update, so the trainable weights are
 * untouched (BatchNorm's moving statistics did see the batch: the last good state is the
 * checkpoint on disk).
 */
export class NonFiniteLossError extends TrainerError {
  constructor(
    readonly value: number,
    what: string,
  ) {
    super("non_finite_loss", `${what} is ${value}: training diverged`);
  }
}

/** The variables a step trains: the model's trainable weights (not every variable in the engine). */
export function trainableVariables(model: LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** A batch's loss and gradients, before anything is applied (all tensors the caller's to dispose). */
export type BatchGradients = {
  /** Mean loss of the batch. */
  value: tf.Scalar;
  /** Correct top-1 predictions of the same forward pass (int32). */
  correct: tf.Scalar;
  /** Gradient of `value` for each trainable variable, keyed by variable name. */
  grads: tf.NamedTensorMap;
};

/**
 * Forward with BatchNorm in training mode, the loss (label smoothing as given) and its gradients
 * for the model's trainable variables. The first half of a step; data-parallel replicas run this
 * alone on their slices of the batch (see `replicas.ts`).
 */
export function batchGradients(
  model: LayersModel,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  labelSmoothing = 0,
): BatchGradients {
  let correct: tf.Scalar | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.apply(x, { training: true }) as tf.Tensor2D;
    // Accuracy of the same forward pass, kept out of the gradient's tidy scope.
    correct = tf.keep(tf.sum<tf.Scalar>(tf.cast(tf.equal(tf.argMax(logits, 1), y), "int32")));
    // Labels come from the loader, already checked: skip the per-step device read.
    return softmaxCrossEntropy(logits, y, { labelSmoothing, validateLabels: false });
  }, trainableVariables(model));
  return { value, correct: correct!, grads };
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
  const gradClip = options.gradClip ?? null;
  if (!Number.isFinite(loss)) throw new NonFiniteLossError(loss, "the training loss");
  options.onGradients?.(grads);
  let gradNorm: number | null = null;
  let clippedGrads: tf.NamedTensorMap | null = null;
  try {
    if (gradClip !== null) {
      try {
        const clipped = clipByGlobalNorm(grads, gradClip);
        clippedGrads = clipped.grads;
        gradNorm = clipped.totalNorm;
      } catch (error) {
        // A non-finite gradient norm is the same divergence one step earlier than the loss shows it.
        if ((error as { code?: string }).code === "non_finite_norm") {
          throw new NonFiniteLossError(Number.NaN, "the gradient norm");
        }
        throw error;
      }
    }
    optimizer.applyGradients(clippedGrads ?? grads);
    return { gradNorm };
  } finally {
    if (clippedGrads) tf.dispose(Object.values(clippedGrads));
  }
}

/**
 * Runs one step on `x` (`[b, 32, 32, 3]` float32) and `y` (`[b]` int32 labels). Leaves no
 * tensors behind. Throws {@link NonFiniteLossError} when the loss or the gradient norm is not
 * finite, without applying the update.
 */
export async function trainStep(
  model: LayersModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  options: TrainStepOptions = {},
): Promise<TrainStepResult> {
  const { value, correct, grads } = batchGradients(model, x, y, options.labelSmoothing ?? 0);
  try {
    const [lossValue, correctValue] = await Promise.all([value.data(), correct.data()]);
    const loss = lossValue[0]!;
    const { gradNorm } = applyBatchGradients(optimizer, loss, grads, options);
    return { loss, correct: correctValue[0]!, gradNorm };
  } finally {
    tf.dispose([value, correct, ...Object.values(grads)]);
  }
}
