// Per-class accuracy (recall) as bars: which classes the overall accuracy is hiding.
import type { Picture } from "@cnnkit/viz";
import { checkResult } from "./check-result.js";
import { loadViz } from "./load-viz.js";
import type { MetricsResult } from "./metrics-result.js";

/** Options of {@link perClassAccuracyPicture}. */
export interface PerClassAccuracyPictureOptions {
  /** Title. Defaults to "Per-class accuracy (overall X%)". */
  title?: string;
}

/** A bar per class, its height the share of that class predicted correctly. */
export function perClassAccuracyPicture(
  result: MetricsResult,
  options: PerClassAccuracyPictureOptions = {},
): Picture {
  const { barChart } = loadViz("perClassAccuracyPicture");
  checkResult(result, "perClassAccuracyPicture");
  return barChart({
    labels: result.perClass.map((c) => c.name),
    values: result.perClass.map((c) => c.recall),
    title: options.title ?? `Per-class accuracy (overall ${(result.accuracy * 100).toFixed(1)}%)`,
    yLabel: "accuracy (recall)",
    // A fixed 0–1 axis, so pictures of successive epochs compare at a glance.
    yRange: [0, 1],
    valueText: (v) => `${(v * 100).toFixed(1)}%`,
  });
}
