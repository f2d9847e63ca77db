// The confusion matrix as a heatmap: colour shows the share of each true class (row), the
// text the raw count, so a small class's failures are as visible as a big one's.
import type { Picture } from "@cnnkit/viz";
import { checkResult } from "./check-result.js";
import { loadViz } from "./load-viz.js";
import type { MetricsResult } from "./metrics-result.js";

/** Options of {@link confusionMatrixPicture}. */
export interface ConfusionMatrixPictureOptions {
  /**
   * Colour each cell by its share of the row (the true class) instead of its raw count.
   * Defaults to true.
   */
  normalize?: boolean;
  /** Title. Defaults to "Confusion matrix (N examples)". */
  title?: string;
}

/** A heatmap of `result.confusionMatrix`: rows true class, columns predicted class. */
export function confusionMatrixPicture(
  result: MetricsResult,
  options: ConfusionMatrixPictureOptions = {},
): Picture {
  const { heatmap } = loadViz("confusionMatrixPicture");
  checkResult(result, "confusionMatrixPicture");
  const normalize = options.normalize ?? true;
  const counts = result.confusionMatrix;
  const values = counts.map((row) => {
    const support = row.reduce((a, b) => a + b, 0);
    return normalize ? row.map((v) => (support > 0 ? v / support : 0)) : [...row];
  });
  return heatmap({
    values,
    rowLabels: result.classNames,
    columnLabels: result.classNames,
    cellText: (r, c) => String(counts[r]![c]),
    title: options.title ?? `Confusion matrix (${result.examples} examples)`,
    xLabel: "predicted class",
    yLabel: normalize ? "true class (colour: share of row)" : "true class",
  });
}
