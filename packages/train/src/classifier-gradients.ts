// The loss and gradients of one batch of a classifier, before anything is applied: what a
// training step computes first (train-step.ts), and what each data-parallel replica computes on
// its slice (data-parallel.ts), so that one model and N replicas run the same arithmetic. The
// loss itself is @cnnkit/metrics' softmaxCrossEntropy: one definition for training, the
// trainer's test loss and anyone's `optimizer.minimize`.
import { checkLabelSmoothing } from "@cnnkit/metrics";
import { softmaxCrossEntropy } from "@cnnkit/metrics/tfjs";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { TrainError } from "./errors.js";

export interface ClassifierGradientsOptions {
  /** Label smoothing ε of the loss, in [0, 1) (PyTorch's `label_smoothing`). Defaults to 0. */
  labelSmoothing?: number;
  /**
   * Loss scaling: `grads` are the gradients of `lossScale × loss` (the mean loss itself, `value`,
   * is returned unscaled). Emulated float16 training scales the loss so that small gradients
   * survive half precision. Defaults to 1.
   */
  lossScale?: number;
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

/**
 * Forward pass with BatchNorm in training mode, the mean softmax cross-entropy of the logits
 * against the integer labels `y` (`@cnnkit/metrics`' `softmaxCrossEntropy`, smoothed as
 * PyTorch's `label_smoothing`), the correct count of the same pass, and the loss's gradients
 * for the model's trainable variables. `x` is `[rows, ...]` in the model's input layout, `y`
 * `[rows]` class ids (int32, or float holding integers). The labels are not read back to check
 * their range (that would stall every step): an id outside `[0, classes)` contributes nothing.
 */
export function classifierGradients(
  model: LayersModel,
  x: tf.Tensor,
  y: tf.Tensor1D,
  options: ClassifierGradientsOptions = {},
): ClassifierGradients {
  const labelSmoothing = checkLabelSmoothing(options.labelSmoothing, "classifierGradients");
  const lossScale = options.lossScale ?? 1;
  if (!(lossScale > 0) || !Number.isFinite(lossScale)) {
    throw new TrainError(
      "invalid_option",
      `classifierGradients: lossScale: expected a finite number > 0, got ${lossScale}`,
    );
  }
  let correct: tf.Scalar | undefined;
  let unscaled: tf.Scalar | undefined;
  const labels = y.dtype === "int32" ? y : tf.cast(y, "int32");
  try {
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor2D;
      // Accuracy of the same forward pass, kept out of the gradient's tidy scope.
      correct = tf.keep(
        tf.sum<tf.Scalar>(tf.cast(tf.equal(tf.argMax(logits, 1), labels), "int32")),
      );
      const loss = softmaxCrossEntropy(logits, labels, { labelSmoothing, validateLabels: false });
      if (lossScale === 1) return loss;
      unscaled = tf.keep(loss);
      return tf.mul<tf.Scalar>(loss, lossScale);
    }, trainableVariables(model));
    if (unscaled) value.dispose();
    return { value: unscaled ?? value, correct: correct!, grads };
  } finally {
    if (labels !== y) labels.dispose();
  }
}
