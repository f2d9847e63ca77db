// The one accumulator a training loop feeds per batch: every metric in a single pass over
// the logits, mergeable across workers, serialisable between processes.
import {
  type Batch,
  type IndicesInput,
  type LabelsInput,
  type LogitsInput,
  readBatch,
  readBatchAsync,
} from "./batch-input.js";
import { CalibrationBins } from "./calibration.js";
import { ConfusionMatrix } from "./confusion-matrix.js";
import {
  checkLabelSmoothing,
  checkNumClasses,
  logSumExp,
  rowCrossEntropy,
  softmaxRow,
} from "./cross-entropy.js";
import { MetricsError } from "./errors.js";
import type { AveragedScores, ClassResult, MetricsResult, Mistake } from "./metrics-result.js";
import { WorstMistakes } from "./worst-mistakes.js";

/** Options of {@link ClassificationMetrics}. */
export interface ClassificationMetricsOptions {
  /** Number of classes. Defaults to `classNames.length`; one of the two is required. */
  numClasses?: number;
  /** Display names, indexed by class id. Defaults to `"0"`, `"1"`, … */
  classNames?: readonly string[];
  /** The k of each top-k accuracy. Defaults to `[1, 5]`, or `[1]` when numClasses ≤ 5. */
  topK?: readonly number[];
  /** Equal-width confidence bins for calibration (ECE). Defaults to 15. */
  calibrationBins?: number;
  /** Highest-confidence mistakes kept per true class. Defaults to 8. */
  worstPerClass?: number;
  /** Most-confused class pairs listed in the result. Defaults to 10. */
  confusedPairs?: number;
  /** Label smoothing of the reported loss (match the training loss, or 0). Defaults to 0. */
  labelSmoothing?: number;
}

/** The options after defaults are applied (`ClassificationMetrics.options`). */
export interface ResolvedClassificationMetricsOptions {
  numClasses: number;
  classNames: string[];
  topK: number[];
  calibrationBins: number;
  worstPerClass: number;
  confusedPairs: number;
  labelSmoothing: number;
}

/** The full state of an accumulator as plain JSON, to send between processes. */
export interface MetricsState {
  version: 1;
  numClasses: number;
  topK: number[];
  calibrationBins: number;
  worstPerClass: number;
  labelSmoothing: number;
  examples: number;
  lossSum: number;
  topKCorrect: number[];
  confusionMatrix: number[][];
  calibration: { counts: number[]; correct: number[]; confidenceSums: number[] };
  worstMistakes: Mistake[][];
}

function nonNegativeInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new MetricsError(
      "invalid_option",
      `ClassificationMetrics: expected ${name} to be a non-negative integer, got ${String(value)}`,
    );
  }
  return value;
}

function resolveClassificationMetricsOptions(
  options: ClassificationMetricsOptions,
): ResolvedClassificationMetricsOptions {
  const names = options.classNames;
  const numClasses = checkNumClasses(options.numClasses ?? names?.length, "ClassificationMetrics");
  if (names !== undefined && names.length !== numClasses) {
    throw new MetricsError(
      "invalid_option",
      `ClassificationMetrics: expected ${numClasses} classNames (numClasses), got ${names.length}`,
    );
  }
  const topK = [...(options.topK ?? (numClasses > 5 ? [1, 5] : [1]))].sort((a, b) => a - b);
  for (const k of topK) {
    if (!Number.isInteger(k) || k < 1 || k > numClasses) {
      throw new MetricsError(
        "invalid_option",
        `ClassificationMetrics: expected each topK in [1, ${numClasses}] (numClasses), got ${k}`,
      );
    }
  }
  return {
    numClasses,
    classNames: names ? [...names] : Array.from({ length: numClasses }, (_, c) => String(c)),
    topK: [...new Set(topK)],
    calibrationBins: nonNegativeInteger(options.calibrationBins, "calibrationBins", 15),
    worstPerClass: nonNegativeInteger(options.worstPerClass, "worstPerClass", 8),
    confusedPairs: nonNegativeInteger(options.confusedPairs, "confusedPairs", 10),
    labelSmoothing: checkLabelSmoothing(options.labelSmoothing, "ClassificationMetrics"),
  };
}

/**
 * Streaming classification metrics: top-1/top-k accuracy, mean loss, confusion matrix,
 * per-class precision/recall/F1/support, most-confused pairs, highest-confidence mistakes
 * per class and calibration (ECE with reliability bins).
 *
 * @example
 * const m = new ClassificationMetrics({ classNames: cifar.classNames });
 * for (const { logits, labels, indices } of batches) m.update(logits, labels, indices);
 * const result = m.result(); // JSON, see MetricsResult
 */
export class ClassificationMetrics {
  readonly options: Readonly<ResolvedClassificationMetricsOptions>;
  readonly confusion: ConfusionMatrix;
  #examples = 0;
  #lossSum = 0;
  #topKCorrect: Float64Array;
  #calibration: CalibrationBins;
  #worst: WorstMistakes;

  constructor(options: ClassificationMetricsOptions) {
    if (typeof options !== "object" || options === null) {
      throw new MetricsError(
        "invalid_option",
        `ClassificationMetrics: expected an options object with numClasses or classNames, got ${String(options)}`,
      );
    }
    this.options = resolveClassificationMetricsOptions(options);
    const { numClasses, topK, calibrationBins, worstPerClass } = this.options;
    this.confusion = new ConfusionMatrix({ numClasses });
    this.#topKCorrect = new Float64Array(topK.length);
    this.#calibration = new CalibrationBins(calibrationBins);
    this.#worst = new WorstMistakes(numClasses, worstPerClass);
  }

  /** Examples accumulated so far. */
  get examples(): number {
    return this.#examples;
  }

  /**
   * Adds a batch. `logits` is `[batch, numClasses]` (a tf.Tensor2D, read synchronously, or
   * a flat row-major Float32Array); `labels` are class ids; `indices` are the dataset
   * indices of the rows (defaults to the running position in the stream). The whole batch
   * is validated first: on an error nothing is accumulated. Tensors are not disposed.
   */
  update(logits: LogitsInput, labels: LabelsInput, indices?: IndicesInput): this {
    this.#accumulate(readBatch(logits, labels, indices, this.options.numClasses));
    return this;
  }

  /**
   * Like `update`, but reads tensors with `await tensor.data()`, which does not block the
   * thread while a GPU backend (webgl, webgpu) finishes. Do not dispose the tensors before
   * the promise settles.
   */
  async updateAsync(
    logits: LogitsInput,
    labels: LabelsInput,
    indices?: IndicesInput,
  ): Promise<this> {
    this.#accumulate(await readBatchAsync(logits, labels, indices, this.options.numClasses));
    return this;
  }

  #accumulate(batch: Batch): void {
    const k = this.options.numClasses;
    const { topK, labelSmoothing } = this.options;
    const values = batch.logits;
    for (let i = 0; i < batch.size; i++) {
      const offset = i * k;
      const label = batch.labels[i]!;
      // ±Infinity logits (an overflowed model) go through softmax's limit: see softmaxRow.
      const row = softmaxRow(values, offset, k);
      const { lse, argmax, max } = logSumExp(row.values, row.offset, k);
      const trueLogit = values[offset + label]!;
      // Rank of the true class, breaking ties towards the lower class id like argMax does,
      // so top-1 here always agrees with the confusion matrix.
      let rank = 0;
      for (let c = 0; c < k; c++) {
        const v = values[offset + c]!;
        if (v > trueLogit || (v === trueLogit && c < label)) rank++;
      }
      for (let t = 0; t < topK.length; t++) if (rank < topK[t]!) this.#topKCorrect[t]! += 1;
      this.#lossSum += rowCrossEntropy(row.values, row.offset, k, label, lse, labelSmoothing);
      const confidence = Math.exp(max - lse);
      const correct = argmax === label;
      this.confusion.addUnchecked(label, argmax);
      this.#calibration.add(confidence, correct);
      if (!correct && this.#worst.admits(label, confidence)) {
        this.#worst.add({
          index: batch.indices ? batch.indices[i]! : this.#examples + i,
          trueClass: label,
          predictedClass: argmax,
          confidence,
          trueClassProbability: Math.exp(row.values[row.offset + label]! - lse),
        });
      }
    }
    this.#examples += batch.size;
  }

  /**
   * Adds another accumulator's counts (evaluation split across workers). Both must have the
   * same numClasses, topK, calibrationBins, worstPerClass and labelSmoothing.
   */
  merge(other: ClassificationMetrics): this {
    this.#checkCompatible(other.stateHeader(), "merge");
    this.confusion.merge(other.confusion);
    this.#examples += other.#examples;
    this.#lossSum += other.#lossSum;
    for (let t = 0; t < this.#topKCorrect.length; t++) {
      this.#topKCorrect[t]! += other.#topKCorrect[t]!;
    }
    this.#calibration.merge(other.#calibration);
    this.#worst.merge(other.#worst);
    return this;
  }

  /** Forgets everything accumulated (start of a new epoch); options are kept. */
  reset(): void {
    this.confusion.reset();
    this.#examples = 0;
    this.#lossSum = 0;
    this.#topKCorrect.fill(0);
    this.#calibration.reset();
    this.#worst.reset();
  }

  /** All metrics as plain JSON. Throws when no example was added. */
  result(): MetricsResult {
    const n = this.#examples;
    if (n === 0) {
      throw new MetricsError(
        "empty",
        "ClassificationMetrics.result: expected at least one example, got 0 (call update() first)",
      );
    }
    const { numClasses, classNames, topK, labelSmoothing, confusedPairs } = this.options;
    const scores = this.confusion.classScores();
    const perClass: ClassResult[] = scores.map((s, c) => ({
      classId: c,
      name: classNames[c]!,
      ...s,
      worstMistakes: this.#worst.lists[c]!.map((m) => ({ ...m })),
    }));
    const average = (weight: (c: number) => number): AveragedScores => {
      let w = 0;
      const sum = { precision: 0, recall: 0, f1: 0 };
      scores.forEach((s, c) => {
        const wc = weight(c);
        w += wc;
        sum.precision += wc * s.precision;
        sum.recall += wc * s.recall;
        sum.f1 += wc * s.f1;
      });
      return { precision: sum.precision / w, recall: sum.recall / w, f1: sum.f1 / w };
    };
    return {
      version: 1,
      examples: n,
      numClasses,
      classNames: [...classNames],
      accuracy: scores.reduce((sum, s) => sum + s.correct, 0) / n,
      topK: topK.map((k, t) => ({ k, accuracy: this.#topKCorrect[t]! / n })),
      loss: this.#lossSum / n,
      labelSmoothing,
      macro: average(() => 1),
      weighted: average((c) => scores[c]!.support),
      perClass,
      confusionMatrix: this.confusion.toArray(),
      mostConfused: this.confusion.mostConfused(confusedPairs),
      calibration: this.#calibration.result(),
    };
  }

  /** The full state as plain JSON (for `loadStateDict` in another process, then `merge`). */
  stateDict(): MetricsState {
    return {
      ...this.stateHeader(),
      examples: this.#examples,
      lossSum: this.#lossSum,
      topKCorrect: Array.from(this.#topKCorrect),
      confusionMatrix: this.confusion.toArray(),
      calibration: {
        counts: Array.from(this.#calibration.counts),
        correct: Array.from(this.#calibration.correct),
        confidenceSums: Array.from(this.#calibration.confidenceSums),
      },
      worstMistakes: this.#worst.lists.map((list) => list.map((m) => ({ ...m }))),
    };
  }

  /** Replaces this accumulator's state with one from `stateDict()` of a compatible one. */
  loadStateDict(state: MetricsState): void {
    if (typeof state !== "object" || state === null || state.version !== 1) {
      throw new MetricsError(
        "invalid_state",
        `loadStateDict: expected a MetricsState with version 1, got ${
          typeof state === "object" && state !== null
            ? `version ${String(state.version)}`
            : String(state)
        }`,
      );
    }
    this.#checkCompatible(state, "loadStateDict");
    const bins = this.#calibration.numBins;
    const lengthsOk =
      state.topKCorrect?.length === this.#topKCorrect.length &&
      state.calibration?.counts?.length === bins &&
      state.calibration.correct?.length === bins &&
      state.calibration.confidenceSums?.length === bins &&
      state.worstMistakes?.length === this.options.numClasses;
    if (!lengthsOk || !Number.isInteger(state.examples) || !Number.isFinite(state.lossSum)) {
      throw new MetricsError(
        "invalid_state",
        "loadStateDict: expected arrays sized for these options (topK, calibrationBins, numClasses), a whole example count and a finite lossSum; the state is truncated or from other options",
      );
    }
    const k = this.options.numClasses;
    state.worstMistakes.forEach((list, c) => {
      const bad = list.find(
        (m) =>
          m?.trueClass !== c ||
          !(Number.isInteger(m.predictedClass) && m.predictedClass >= 0 && m.predictedClass < k) ||
          !(Number.isInteger(m.index) && m.index >= 0) ||
          !(m.confidence >= 0 && m.confidence <= 1),
      );
      if (bad !== undefined) {
        throw new MetricsError(
          "invalid_state",
          `loadStateDict: worstMistakes[${c}]: expected mistakes of true class ${c} with a predicted class in [0, ${k - 1}], a dataset index and a confidence in [0, 1], got ${JSON.stringify(bad)}`,
        );
      }
    });
    const confusion = ConfusionMatrix.fromArray(state.confusionMatrix);
    if (confusion.numClasses !== this.options.numClasses || confusion.total !== state.examples) {
      throw new MetricsError(
        "invalid_state",
        `loadStateDict: expected a ${this.options.numClasses}×${this.options.numClasses} confusion matrix counting ${state.examples} examples, got ${confusion.numClasses}×${confusion.numClasses} counting ${confusion.total}`,
      );
    }
    this.reset();
    this.confusion.merge(confusion);
    this.#examples = state.examples;
    this.#lossSum = state.lossSum;
    this.#topKCorrect.set(state.topKCorrect);
    this.#calibration.counts.set(state.calibration.counts);
    this.#calibration.correct.set(state.calibration.correct);
    this.#calibration.confidenceSums.set(state.calibration.confidenceSums);
    for (const list of state.worstMistakes) {
      for (const { index, trueClass, predictedClass, confidence, trueClassProbability } of list) {
        this.#worst.add({ index, trueClass, predictedClass, confidence, trueClassProbability });
      }
    }
  }

  /** The options part of the state: what must agree for two accumulators to merge. */
  private stateHeader(): Pick<
    MetricsState,
    "version" | "numClasses" | "topK" | "calibrationBins" | "worstPerClass" | "labelSmoothing"
  > {
    const { numClasses, topK, calibrationBins, worstPerClass, labelSmoothing } = this.options;
    return {
      version: 1,
      numClasses,
      topK: [...topK],
      calibrationBins,
      worstPerClass,
      labelSmoothing,
    };
  }

  #checkCompatible(
    other: Pick<
      MetricsState,
      "numClasses" | "topK" | "calibrationBins" | "worstPerClass" | "labelSmoothing"
    >,
    where: string,
  ): void {
    const mine = this.stateHeader();
    for (const key of [
      "numClasses",
      "calibrationBins",
      "worstPerClass",
      "labelSmoothing",
    ] as const) {
      if (other[key] !== mine[key]) {
        throw new MetricsError(
          "merge_mismatch",
          `${where}: expected ${key} ${mine[key]}, got ${String(other[key])}`,
        );
      }
    }
    if (!Array.isArray(other.topK) || other.topK.join(",") !== mine.topK.join(",")) {
      throw new MetricsError(
        "merge_mismatch",
        `${where}: expected topK [${mine.topK.join(", ")}], got [${String(other.topK)}]`,
      );
    }
  }
}
