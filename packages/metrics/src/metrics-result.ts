// The JSON an evaluation produces. Field names are a stable contract (reports and the
// trainer read them); a breaking change bumps `version`.
import type { CalibrationResult } from "./calibration.js";
import type { ConfusedPair } from "./confusion-matrix.js";

/** A wrong prediction, kept so its image can be shown. */
export interface Mistake {
  /** Dataset index of the example (the `indices` passed to `update`, else its stream position). */
  index: number;
  trueClass: number;
  predictedClass: number;
  /** Softmax probability of the predicted class. */
  confidence: number;
  /** Softmax probability the model gave the true class. */
  trueClassProbability: number;
}

/** Accuracy among the k highest-scoring classes. */
export interface TopKAccuracy {
  k: number;
  accuracy: number;
}

/** Averages of per-class scores. */
export interface AveragedScores {
  precision: number;
  recall: number;
  f1: number;
}

/** Everything known about one class. */
export interface ClassResult {
  classId: number;
  name: string;
  /** Examples of this class. */
  support: number;
  /** Of them, predicted correctly. */
  correct: number;
  /** Examples predicted as this class. */
  predicted: number;
  precision: number;
  /** Per-class accuracy. */
  recall: number;
  f1: number;
  /** Its highest-confidence mistakes, most confident first (at most `worstPerClass`). */
  worstMistakes: Mistake[];
}

/** Result of `ClassificationMetrics.result()`: plain JSON, safe to `JSON.stringify`. */
export interface MetricsResult {
  /** Schema version of this object. */
  version: 1;
  /** Examples evaluated. */
  examples: number;
  numClasses: number;
  classNames: string[];
  /** Top-1 accuracy. */
  accuracy: number;
  /** Top-k accuracies for the configured k, ascending. */
  topK: TopKAccuracy[];
  /** Mean cross-entropy (natural log), with `labelSmoothing` applied. */
  loss: number;
  labelSmoothing: number;
  /** Unweighted mean over all classes (a class never seen or predicted scores 0). */
  macro: AveragedScores;
  /** Mean over classes weighted by support. */
  weighted: AveragedScores;
  /** Indexed by class id. */
  perClass: ClassResult[];
  /** Counts, `[trueClass][predictedClass]`. */
  confusionMatrix: number[][];
  /** The largest off-diagonal cells, largest first. */
  mostConfused: ConfusedPair[];
  calibration: CalibrationResult;
}
