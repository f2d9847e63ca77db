// Evaluation over a split: BatchNorm in inference mode (moving statistics), every metric of
// @cnnkit/metrics in one streaming pass, no tensors left behind.
import type { Cifar10Batches } from "@cnnkit/cifar10";
import { type TTALevel, ttaLogits } from "@cnnkit/export";
import { ClassificationMetrics, type MetricsResult } from "@cnnkit/metrics";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";

/**
 * Accuracy, loss, confusion matrix, per-class scores, worst mistakes and calibration of `model`
 * on every batch of `batches` (which must not shuffle or augment). The loss is the plain
 * cross-entropy, without label smoothing, so test losses compare across configs. `tta` averages
 * the logits over mirrored and shifted views of each image (`@cnnkit/export`'s `ttaLogits`).
 */
export async function evaluate(
  model: LayersModel,
  batches: Cifar10Batches,
  classNames: readonly string[],
  options: { tta?: TTALevel } = {},
): Promise<MetricsResult> {
  const tta = options.tta ?? 0;
  const metrics = new ClassificationMetrics({ classNames: [...classNames] });
  for await (const batch of batches.epoch(0)) {
    // training: false = BatchNorm uses its moving mean/variance, the way the export will run.
    const logits = ttaLogits(
      (x) => model.apply(x, { training: false }) as tf.Tensor2D,
      batch.x as tf.Tensor4D,
      tta,
    );
    try {
      await metrics.updateAsync(logits, batch.labels, batch.indices);
    } finally {
      tf.dispose([logits, batch.x, batch.y]);
    }
  }
  return metrics.result();
}
