// Mean cross-entropy from logits in plain JavaScript, computed through log-softmax so that
// large logits (1e4 and up) neither overflow exp() nor lose the small probabilities.
import { isTensorLike, type LabelsInput, type LogitsInput, readBatch } from "./batch-input.js";
import { MetricsError } from "./errors.js";

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /**
   * Number of classes (the row length of flat logits). Read from the tensor's shape when
   * `logits` is a tensor; required for a Float32Array.
   */
  numClasses?: number;
  /**
   * Label smoothing ε in [0, 1): the target is `(1 − ε)·onehot + ε/numClasses`, exactly as
   * PyTorch's `cross_entropy(label_smoothing=ε)` and tfjs's `softmaxCrossEntropy`.
   * Defaults to 0.
   */
  labelSmoothing?: number;
}

/**
 * Checks a label-smoothing option, as every cnnkit loss does (this package's JS and tensor
 * losses, `@cnnkit/train`'s gradients and replicas): `undefined` is 0, anything outside [0, 1)
 * throws a `MetricsError` (`invalid_option`) that starts with `where`.
 */
export function checkLabelSmoothing(value: unknown, where: string): number {
  if (value === undefined) return 0;
  if (typeof value !== "number" || !(value >= 0 && value < 1)) {
    throw new MetricsError(
      "invalid_option",
      `${where}: expected labelSmoothing in [0, 1), got ${String(value)}`,
    );
  }
  return value;
}

/** Checks a class count: at least 2 (one class is not a classification). */
export function checkNumClasses(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 2) {
    throw new MetricsError(
      "invalid_option",
      `${where}: expected numClasses to be an integer ≥ 2, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * A row softmax can work on: the row itself when its maximum is finite, else its limit as a
 * copy. ±Infinity logits are what a model whose weights overflowed produces; softmax has a
 * limit for them: the +Infinity classes share all the probability (the others get 0), and a row
 * of −Infinity only is a uniform guess. The copy says exactly that with finite numbers and
 * −Infinity (0 for the classes that share, −Infinity for the others), so the log-sum-exp, the
 * confidences and the loss (+Infinity where the true class gets probability 0) stay defined.
 */
export function softmaxRow(
  values: ArrayLike<number>,
  offset: number,
  numClasses: number,
): { values: ArrayLike<number>; offset: number } {
  let max = values[offset]!;
  for (let c = 1; c < numClasses; c++) if (values[offset + c]! > max) max = values[offset + c]!;
  if (Number.isFinite(max)) return { values, offset };
  const limit = new Float64Array(numClasses);
  for (let c = 0; c < numClasses; c++) {
    limit[c] = max === Number.NEGATIVE_INFINITY || values[offset + c] === max ? 0 : -Infinity;
  }
  return { values: limit, offset: 0 };
}

/**
 * log Σ exp(z) over one row, shifted by the row maximum so the largest term is exp(0) = 1.
 * Returns the maximum too, because callers want the arg-max in the same pass. The maximum must
 * be finite: pass rows through {@link softmaxRow} first.
 */
export function logSumExp(
  values: ArrayLike<number>,
  offset: number,
  numClasses: number,
): { lse: number; argmax: number; max: number } {
  let max = values[offset]!;
  let argmax = 0;
  for (let c = 1; c < numClasses; c++) {
    const v = values[offset + c]!;
    // Strict ">" keeps the first maximum, like tf.argMax and torch.argmax.
    if (v > max) {
      max = v;
      argmax = c;
    }
  }
  let sum = 0;
  for (let c = 0; c < numClasses; c++) sum += Math.exp(values[offset + c]! - max);
  return { lse: max + Math.log(sum), argmax, max };
}

/**
 * Loss of one row: `lse − ((1 − ε)·z_label + ε/K·Σ z)`, which is `−Σ q·log_softmax(z)` with
 * the smoothed target q written out so no per-class log-probability array is needed.
 */
export function rowCrossEntropy(
  values: ArrayLike<number>,
  offset: number,
  numClasses: number,
  label: number,
  lse: number,
  labelSmoothing: number,
): number {
  const nll = lse - values[offset + label]!;
  if (labelSmoothing === 0) return nll;
  let sum = 0;
  for (let c = 0; c < numClasses; c++) sum += values[offset + c]!;
  const uniform = lse - sum / numClasses;
  return (1 - labelSmoothing) * nll + labelSmoothing * uniform;
}

/**
 * Mean cross-entropy of a batch of logits against integer labels, in float64.
 *
 * @example
 * crossEntropy(new Float32Array([2, 0, 0, 0, 3, 0]), [0, 1], { numClasses: 3 }); // ≈ 0.1773
 */
export function crossEntropy(
  logits: LogitsInput,
  labels: LabelsInput,
  options: CrossEntropyOptions = {},
): number {
  const labelSmoothing = checkLabelSmoothing(options.labelSmoothing, "crossEntropy");
  const numClasses = checkNumClasses(
    options.numClasses ?? (isTensorLike(logits) ? logits.shape[1] : undefined),
    "crossEntropy",
  );
  const batch = readBatch(logits, labels, undefined, numClasses);
  if (batch.size === 0) {
    throw new MetricsError("empty_batch", "crossEntropy: expected at least one row, got 0");
  }
  let total = 0;
  for (let i = 0; i < batch.size; i++) {
    const row = softmaxRow(batch.logits, i * numClasses, numClasses);
    const { lse } = logSumExp(row.values, row.offset, numClasses);
    total += rowCrossEntropy(
      row.values,
      row.offset,
      numClasses,
      batch.labels[i]!,
      lse,
      labelSmoothing,
    );
  }
  return total / batch.size;
}
