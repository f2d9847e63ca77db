export type { IndicesInput, LabelsInput, LogitsInput, TensorLike } from "./batch-input.js";
export { isTensorLike } from "./batch-input.js";
export type { CalibrationResult, ReliabilityBin } from "./calibration.js";
export type {
  ClassificationMetricsOptions,
  MetricsState,
  ResolvedClassificationMetricsOptions,
} from "./classification-metrics.js";
export { ClassificationMetrics } from "./classification-metrics.js";
export type { ClassScores, ConfusedPair, ConfusionMatrixOptions } from "./confusion-matrix.js";
export { ConfusionMatrix } from "./confusion-matrix.js";
export type { CrossEntropyOptions } from "./cross-entropy.js";
export { checkLabelSmoothing, crossEntropy } from "./cross-entropy.js";
export type { MetricsErrorCode } from "./errors.js";
export { MetricsError } from "./errors.js";
export type {
  AveragedScores,
  ClassResult,
  MetricsResult,
  Mistake,
  TopKAccuracy,
} from "./metrics-result.js";
export type { ToMarkdownOptions } from "./to-markdown.js";
export { toMarkdown } from "./to-markdown.js";
