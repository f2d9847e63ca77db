// The reliability diagram: accuracy against confidence per bin, beside the diagonal a
// perfectly calibrated model would follow. Below the diagonal means overconfident.
import type { Picture } from "@cnnkit/viz";
import { checkResult } from "./check-result.js";
import { loadViz } from "./load-viz.js";
import type { MetricsResult } from "./metrics-result.js";

/** Options of {@link reliabilityPicture}. */
export interface ReliabilityPictureOptions {
  /** Title. Defaults to "Reliability (ECE X%)". */
  title?: string;
}

/** Accuracy of each non-empty calibration bin, plotted at the bin's mean confidence. */
export function reliabilityPicture(
  result: MetricsResult,
  options: ReliabilityPictureOptions = {},
): Picture {
  const { lineChart } = loadViz("reliabilityPicture");
  checkResult(result, "reliabilityPicture");
  // Plotting at the mean confidence (not the bin centre) makes the vertical distance to the
  // diagonal exactly the gap the ECE averages.
  const bins = result.calibration.bins.filter((b) => b.count > 0);
  return lineChart({
    series: [
      { name: "perfect calibration", x: [0, 1], y: [0, 1], dashed: true },
      { name: "model", x: bins.map((b) => b.confidence), y: bins.map((b) => b.accuracy) },
    ],
    title: options.title ?? `Reliability (ECE ${(result.calibration.ece * 100).toFixed(2)}%)`,
    xLabel: "confidence (top softmax probability)",
    yLabel: "accuracy",
    yRange: [0, 1],
  });
}
