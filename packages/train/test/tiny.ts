// A tiny seeded classifier and batch for this package's tests: @cnnkit/resnet's SmallResNet at
// widths 4/8/16 on 8×8 RGB images, 10 classes.
import { smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";

export function tinyModel(seed = 0): LayersModel {
  return smallResNet({ widths: [4, 8, 16], inputShape: [8, 8, 3], seed });
}

/** `rows` seeded images of 8×8×3 and their labels 0, 1, … 9, 0, … (the caller disposes both). */
export function tinyBatch(rows = 8, seed = 1): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return {
    x: tf.randomNormal([rows, 8, 8, 3], 0, 1, "float32", seed) as tf.Tensor4D,
    y: tf.tensor1d(
      Array.from({ length: rows }, (_, i) => i % 10),
      "int32",
    ),
  };
}
