// The loss and gradients of one batch of a classifier, before anything is applied: what a
// training step computes first, and what each data-parallel replica computes on its slice
// (data-parallel.ts), so that one model and N replicas run the same arithmetic.
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { BackendError } from "./errors.js";

export interface ClassifierGradientsOptions {
  /** Label smoothing ε of the loss, in [0, 1). Defaults to 0. */
  labelSmoothing?: number;
}

/** A batch's loss and gradients (every tensor the caller's to dispose). */
export type ClassifierGradients = {
  /** Mean softmax cross-entropy of the batch. */
  value: tf.Scalar;
  /** Correct top-1 predictions of the same forward pass (int32). */
  correct: tf.Scalar;
  /** Gradient of `value` for each trainable variable, keyed by variable name. */
  grads: tf.NamedTensorMap;
};

/** The variables a step trains: the model's trainable weights (not every variable in the engine). */
export function trainableVariables(model: LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

export function checkLabelSmoothing(value: number | undefined, where: string): number {
  const e = value ?? 0;
  if (!(Number.isFinite(e) && e >= 0 && e < 1)) {
    throw new BackendError(
      "invalid_option",
      `${where}: labelSmoothing: expected a number in [0, 1), got ${value}`,
    );
  }
  return e;
}

/**
 * Forward pass with BatchNorm in training mode, the mean softmax cross-entropy of `logits`
 * against the integer labels `y` (smoothed as PyTorch's `label_smoothing`: −[(1 − ε)·log p_y +
 * ε/K·Σ_k log p_k], the formula of `@cnnkit/metrics`' `softmaxCrossEntropy`), the correct count
 * of the same pass, and the loss's gradients for the model's trainable variables.
 * `x` is `[rows, ...]` in the model's input layout, `y` `[rows]` class ids (not checked here:
 * out-of-range ids contribute nothing to the loss).
 */
export function classifierGradients(
  model: LayersModel,
  x: tf.Tensor,
  y: tf.Tensor1D,
  options: ClassifierGradientsOptions = {},
): ClassifierGradients {
  const labelSmoothing = checkLabelSmoothing(options.labelSmoothing, "classifierGradients");
  let correct: tf.Scalar | undefined;
  const labels = y.dtype === "int32" ? y : tf.cast(y, "int32");
  try {
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor2D;
      const classes = logits.shape[1]!;
      // Accuracy of the same forward pass, kept out of the gradient's tidy scope.
      correct = tf.keep(
        tf.sum<tf.Scalar>(tf.cast(tf.equal(tf.argMax(logits, 1), labels), "int32")),
      );
      const logProbs = tf.logSoftmax(logits);
      const picked = tf.sum(tf.mul(tf.oneHot(labels, classes), logProbs), 1);
      if (labelSmoothing === 0) return tf.neg(tf.mean<tf.Scalar>(picked));
      const uniform = tf.mul(tf.sum(logProbs, 1), labelSmoothing / classes);
      return tf.neg(tf.mean<tf.Scalar>(tf.add(tf.mul(picked, 1 - labelSmoothing), uniform)));
    }, trainableVariables(model));
    return { value, correct: correct!, grads };
  } finally {
    if (labels !== y) labels.dispose();
  }
}
