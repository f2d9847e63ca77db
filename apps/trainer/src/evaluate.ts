// Evaluation over a split: BatchNorm in inference mode (moving statistics), every metric of
// @cnnkit/metrics in one streaming pass, no tensors left behind.
import type { Cifar10Batches } from "@cnnkit/cifar10";
import {
  ExportError,
  type OnnxRuntimeForward,
  onnxRuntimeForward,
  type TTALevel,
  ttaLogits,
} from "@cnnkit/export";
import { ClassificationMetrics, type MetricsResult } from "@cnnkit/metrics";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";

/**
 * Where evaluation's forward passes run: `"tfjs"`, layer by layer on the current backend
 * (`model.apply`); `"onnxruntime"`, the whole model as one ONNX Runtime session
 * (`@cnnkit/export`'s `onnxRuntimeForward`: BatchNorm folded, no copies or layout changes
 * between layers), made afresh for each evaluation since the weights change between them. The
 * CLI takes ONNX Runtime when the training convolutions run on it: on 2 cores it evaluates
 * SmallResNet 1.35x and the narrow net 3.4x faster than tfjs there.
 */
export type EvaluationRuntime = "tfjs" | "onnxruntime";

export interface EvaluateOptions {
  /** Test-time augmentation (`@cnnkit/export`'s `ttaLogits`). Defaults to 0: none. */
  tta?: TTALevel;
  /** Defaults to `"tfjs"`. */
  runtime?: EvaluationRuntime;
  /**
   * With `runtime: "onnxruntime"`: called with the reason when the model cannot run there (a
   * layer the ONNX exporter does not know, or onnxruntime-node missing), and the evaluation goes
   * on with tfjs. Without it, that error is thrown.
   */
  onFallback?: (reason: string) => void;
}

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
  options: EvaluateOptions = {},
): Promise<MetricsResult> {
  const tta = options.tta ?? 0;
  const metrics = new ClassificationMetrics({ classNames: [...classNames] });
  // The session copies the weights as they are now (the EMA's, inside ema.evaluate).
  let forward: OnnxRuntimeForward | null = null;
  if (options.runtime === "onnxruntime") {
    try {
      forward = await onnxRuntimeForward(model);
    } catch (error) {
      const unavailable =
        ExportError.isInstance(error) &&
        (error.code === "onnx_unsupported" || error.code === "onnxruntime_missing");
      if (!unavailable || !options.onFallback) throw error;
      options.onFallback(error.message);
    }
  }
  try {
    for await (const batch of batches.epoch(0)) {
      try {
        // training: false = BatchNorm uses its moving mean/variance, the way the export will run.
        const logits = forward
          ? await forward.logits(batch.x as tf.Tensor4D, tta)
          : ttaLogits(
              (x) => model.apply(x, { training: false }) as tf.Tensor2D,
              batch.x as tf.Tensor4D,
              tta,
            );
        try {
          await metrics.updateAsync(logits, batch.labels, batch.indices);
        } finally {
          logits.dispose();
        }
      } finally {
        tf.dispose([batch.x, batch.y]);
      }
    }
  } finally {
    await forward?.dispose();
  }
  return metrics.result();
}
