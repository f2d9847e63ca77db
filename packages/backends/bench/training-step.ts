// One training step of `model` as the benches time it: a random batch of 32×32×3 images, labels
// i mod 10, softmax cross-entropy, momentum SGD (0.01, 0.9); the loss read back, so the step ends.

import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";

export function trainingStep(model: LayersModel, batch: number, seed = 5): () => void {
  const images = tf.randomNormal([batch, 32, 32, 3], 0, 1, "float32", seed);
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: batch }, (_, i) => i % 10),
      "int32",
    ),
    10,
  );
  const optimizer = tf.train.momentum(0.01, 0.9);
  return () => {
    const loss = optimizer.minimize(
      () =>
        tf.losses.softmaxCrossEntropy(labels, model.apply(images, { training: true }) as tf.Tensor),
      true,
    );
    loss?.dataSync();
    loss?.dispose();
  };
}
