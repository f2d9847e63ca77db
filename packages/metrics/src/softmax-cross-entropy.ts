// The training loss as a differentiable tfjs op. It imports tfjs-core, so it lives behind the
// `@cnnkit/metrics/tfjs` entry point and the main entry still loads with no tfjs installed.
import {
  add,
  cast,
  logSoftmax,
  mean,
  mul,
  neg,
  oneHot,
  type Scalar,
  sum,
  type Tensor1D,
  type Tensor2D,
  tidy,
} from "@tensorflow/tfjs-core";
import { checkLabelSmoothing } from "./cross-entropy.js";
import { MetricsError } from "./errors.js";

/** Options of {@link softmaxCrossEntropy}. */
export interface SoftmaxCrossEntropyOptions {
  /**
   * Label smoothing ε in [0, 1): the target is `(1 − ε)·onehot + ε/numClasses` (PyTorch's
   * `label_smoothing`). Defaults to 0.
   */
  labelSmoothing?: number;
  /**
   * Read the labels back to check they are integer class ids in range. A label out of range
   * would otherwise one-hot to an all-zero row and silently train towards nothing. Costs one
   * small device→host read per call. Defaults to true.
   */
  validateLabels?: boolean;
}

/**
 * Mean softmax cross-entropy of `[batch, numClasses]` logits against integer labels, as a
 * scalar tensor with gradients (use it inside `optimizer.minimize`). Computed through
 * `logSoftmax`, so it is stable for large logits. Runs under `tf.tidy`:
 * only the returned scalar is yours to dispose.
 *
 * @example
 * optimizer.minimize(() => softmaxCrossEntropy(model.apply(x) as tf.Tensor2D, y, { labelSmoothing: 0.1 }));
 */
export function softmaxCrossEntropy(
  logits: Tensor2D,
  labels: Tensor1D,
  options: SoftmaxCrossEntropyOptions = {},
): Scalar {
  const labelSmoothing = checkLabelSmoothing(options.labelSmoothing, "softmaxCrossEntropy");
  if (logits.rank !== 2) {
    throw new MetricsError(
      "shape_mismatch",
      `softmaxCrossEntropy: expected logits of shape [batch, numClasses], got [${logits.shape.join(", ")}]`,
    );
  }
  const [rows, numClasses] = logits.shape;
  if (labels.rank !== 1 || labels.shape[0] !== rows) {
    throw new MetricsError(
      "shape_mismatch",
      `softmaxCrossEntropy: expected labels of shape [${rows}] (one class id per logits row), got [${labels.shape.join(", ")}]`,
    );
  }
  if (numClasses < 2 || rows === 0) {
    throw new MetricsError(
      "shape_mismatch",
      `softmaxCrossEntropy: expected at least 1 row and 2 classes, got logits [${rows}, ${numClasses}]`,
    );
  }
  if (options.validateLabels ?? true) {
    const values = labels.dataSync();
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
        throw new MetricsError(
          "label_out_of_range",
          `softmaxCrossEntropy: labels[${i}]: expected an integer class id in [0, ${numClasses - 1}], got ${v}`,
        );
      }
    }
  }

  return tidy(() => {
    const logProbs = logSoftmax(logits);
    const picked = sum(mul(oneHot(cast(labels, "int32"), numClasses), logProbs), 1);
    if (labelSmoothing === 0) return neg(mean(picked));
    // −[(1 − ε)·log p_label + ε/K·Σ log p]: the smoothed target without building it.
    const uniform = mul(sum(logProbs, 1), labelSmoothing / numClasses);
    return neg(mean(add(mul(picked, 1 - labelSmoothing), uniform)));
  }) as Scalar;
}
