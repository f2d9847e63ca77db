// A K×K count matrix: rows are true classes, columns predicted classes (the layout of
// tf.math.confusionMatrix and scikit-learn), plus the per-class scores read off it.
import { checkNumClasses } from "./cross-entropy.js";
import { MetricsError } from "./errors.js";

/** Options of {@link ConfusionMatrix}. */
export interface ConfusionMatrixOptions {
  /** Number of classes K; the matrix is K×K. Required. */
  numClasses: number;
}

/** Precision, recall, F1 and support of one class, read off a confusion matrix. */
export interface ClassScores {
  /** Examples whose true class this is (the row sum). */
  support: number;
  /** Examples of this class predicted as this class (the diagonal cell). */
  correct: number;
  /** Examples predicted as this class (the column sum). */
  predicted: number;
  /** correct / predicted; 0 when nothing was predicted as this class. */
  precision: number;
  /** correct / support, the per-class accuracy; 0 when the class never occurred. */
  recall: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  f1: number;
}

/** One off-diagonal cell: how often `trueClass` was predicted as `predictedClass`. */
export interface ConfusedPair {
  trueClass: number;
  predictedClass: number;
  count: number;
  /** count / support of the true class: the share of that class lost to this confusion. */
  rate: number;
}

/** A streaming confusion matrix. Counts are exact integers (float64 holds them up to 2^53). */
export class ConfusionMatrix {
  readonly numClasses: number;
  readonly #counts: Float64Array;
  #total = 0;

  constructor(options: ConfusionMatrixOptions) {
    this.numClasses = checkNumClasses(options?.numClasses, "ConfusionMatrix");
    this.#counts = new Float64Array(this.numClasses * this.numClasses);
  }

  /**
   * A matrix holding given counts, `[true][predicted]` (e.g. from `toArray()` of another
   * process). Counts must be non-negative integers.
   */
  static fromArray(counts: readonly (readonly number[])[]): ConfusionMatrix {
    const k = counts.length;
    const matrix = new ConfusionMatrix({ numClasses: k });
    counts.forEach((row, r) => {
      if (row.length !== k) {
        throw new MetricsError(
          "shape_mismatch",
          `ConfusionMatrix.fromArray: expected a ${k}×${k} matrix, row ${r} has ${row.length} counts`,
        );
      }
      row.forEach((v, c) => {
        if (!Number.isInteger(v) || v < 0) {
          throw new MetricsError(
            "invalid_state",
            `ConfusionMatrix.fromArray: counts[${r}][${c}]: expected a non-negative integer, got ${v}`,
          );
        }
        matrix.#counts[r * k + c] = v;
        matrix.#total += v;
      });
    });
    return matrix;
  }

  /** Number of examples counted. */
  get total(): number {
    return this.#total;
  }

  /**
   * Counts a batch of (true, predicted) class-id pairs. Both are validated before anything
   * is counted, so a bad batch changes nothing.
   */
  update(labels: ArrayLike<number>, predictions: ArrayLike<number>): this {
    if (labels.length !== predictions.length) {
      throw new MetricsError(
        "shape_mismatch",
        `ConfusionMatrix.update: expected as many predictions as labels (${labels.length}), got ${predictions.length}`,
      );
    }
    const k = this.numClasses;
    for (let i = 0; i < labels.length; i++) {
      for (const [what, v] of [
        ["labels", labels[i]],
        ["predictions", predictions[i]],
      ] as const) {
        if (!Number.isInteger(v) || v! < 0 || v! >= k) {
          throw new MetricsError(
            "label_out_of_range",
            `ConfusionMatrix.update: ${what}[${i}]: expected an integer class id in [0, ${k - 1}], got ${v}`,
          );
        }
      }
    }
    for (let i = 0; i < labels.length; i++) this.#counts[labels[i]! * k + predictions[i]!]! += 1;
    this.#total += labels.length;
    return this;
  }

  /** Counts one pair without validation; for accumulators that validated the batch already. */
  addUnchecked(trueClass: number, predictedClass: number): void {
    this.#counts[trueClass * this.numClasses + predictedClass]! += 1;
    this.#total += 1;
  }

  /** How many examples of `trueClass` were predicted as `predictedClass`. */
  get(trueClass: number, predictedClass: number): number {
    const k = this.numClasses;
    if (!(trueClass >= 0 && trueClass < k && predictedClass >= 0 && predictedClass < k)) {
      throw new MetricsError(
        "label_out_of_range",
        `ConfusionMatrix.get: expected class ids in [0, ${k - 1}], got (${trueClass}, ${predictedClass})`,
      );
    }
    return this.#counts[trueClass * k + predictedClass]!;
  }

  /** The matrix as nested arrays, `[true][predicted]` (what tf.math.confusionMatrix returns). */
  toArray(): number[][] {
    const k = this.numClasses;
    return Array.from({ length: k }, (_, r) => Array.from(this.#counts.subarray(r * k, r * k + k)));
  }

  /** Precision, recall, F1 and support per class, indexed by class id. */
  classScores(): ClassScores[] {
    const k = this.numClasses;
    const predicted = new Float64Array(k);
    for (let r = 0; r < k; r++)
      for (let c = 0; c < k; c++) predicted[c]! += this.#counts[r * k + c]!;
    return Array.from({ length: k }, (_, c) => {
      let support = 0;
      for (let p = 0; p < k; p++) support += this.#counts[c * k + p]!;
      const correct = this.#counts[c * k + c]!;
      const precision = predicted[c]! > 0 ? correct / predicted[c]! : 0;
      const recall = support > 0 ? correct / support : 0;
      const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
      return { support, correct, predicted: predicted[c]!, precision, recall, f1 };
    });
  }

  /**
   * The off-diagonal cells with the highest counts, largest first (ties: lower true class,
   * then lower predicted class, so the order never depends on how the data arrived).
   */
  mostConfused(limit = 10): ConfusedPair[] {
    const k = this.numClasses;
    const pairs: ConfusedPair[] = [];
    for (let t = 0; t < k; t++) {
      let support = 0;
      for (let p = 0; p < k; p++) support += this.#counts[t * k + p]!;
      for (let p = 0; p < k; p++) {
        const count = this.#counts[t * k + p]!;
        if (p !== t && count > 0) {
          pairs.push({ trueClass: t, predictedClass: p, count, rate: count / support });
        }
      }
    }
    pairs.sort(
      (a, b) =>
        b.count - a.count || a.trueClass - b.trueClass || a.predictedClass - b.predictedClass,
    );
    return pairs.slice(0, Math.max(0, limit));
  }

  /** Adds another matrix's counts into this one (evaluation split across workers). */
  merge(other: ConfusionMatrix): this {
    if (other.numClasses !== this.numClasses) {
      throw new MetricsError(
        "merge_mismatch",
        `ConfusionMatrix.merge: expected numClasses ${this.numClasses}, got ${other.numClasses}`,
      );
    }
    for (let i = 0; i < this.#counts.length; i++) this.#counts[i]! += other.#counts[i]!;
    this.#total += other.#total;
    return this;
  }

  /** Sets every count back to zero. */
  reset(): void {
    this.#counts.fill(0);
    this.#total = 0;
  }
}
