// One training step of a classifier on a fixed batch (softmax cross-entropy, optional label
// smoothing), shared by src/training-parity.test.ts and the WebGPU page.
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";

/** Applies one step's gradients through `optimizer` and returns the step's loss (kept). */
export function classifierStep(
  model: tfl.LayersModel,
  xs: tf.Tensor,
  labels: tf.Tensor,
  optimizer: { applyGradients(grads: tf.NamedTensorMap): void },
  labelSmoothing = 0,
): tf.Scalar {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(
      () =>
        tf.losses.softmaxCrossEntropy(
          labels,
          model.apply(xs, { training: true }) as tf.Tensor,
          undefined,
          labelSmoothing,
        ) as tf.Scalar,
      variables,
    );
    optimizer.applyGradients(grads);
    return value;
  });
}
