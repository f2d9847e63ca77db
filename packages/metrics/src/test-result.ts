// A small hand-made evaluation shared by the report tests (not part of the package API).
import { ClassificationMetrics } from "./classification-metrics.js";
import type { MetricsResult } from "./metrics-result.js";

/** Four examples of three classes: one right, three confident-to-unsure mistakes. */
export function smallResult(): MetricsResult {
  const m = new ClassificationMetrics({
    classNames: ["cat", "d|og", "frog"],
    topK: [1, 2],
    calibrationBins: 2,
  });
  const rows = [
    [2, 1, 0], // cat, right
    [0, 3, 1], // frog taken for dog
    [1, 1, 0], // dog taken for cat (a tie)
    [0, 0, 5], // cat taken for frog, 98.7% sure
  ];
  return m.update(new Float32Array(rows.flat()), [0, 2, 1, 0], [0, 1, 2, 3]).result();
}
