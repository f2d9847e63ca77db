import { describe, expect, it } from "vitest";
import { ClassificationMetrics, MetricsError, type MetricsResult, toMarkdown } from "./index.js";

function result(): MetricsResult {
  const m = new ClassificationMetrics({
    classNames: ["cat", "d|og", "frog"],
    topK: [1, 2],
    calibrationBins: 2,
  });
  const rows = [
    [2, 1, 0],
    [0, 3, 1],
    [1, 1, 0],
    [0, 0, 5],
  ];
  return m.update(new Float32Array(rows.flat()), [0, 2, 1, 0], [10, 11, 12, 13]).result();
}

describe("toMarkdown", () => {
  it("renders the headline, per-class, confusion, calibration and mistake tables", () => {
    const md = toMarkdown(result(), { title: "Test set", headingLevel: 3 });
    expect(md).toContain(
      "### Test set\n\n| examples | top-1 | top-2 | loss | ECE |\n|---:|---:|---:|---:|---:|\n| 4 | 25.00% | 100.00% |",
    );
    expect(md).toContain("#### Per class");
    // Row: cat has support 2, precision 1/2, recall 1/2, and is mistaken once for frog.
    expect(md).toContain("| cat | 2 | 50.00% | 50.00% | 50.00% | frog (1) |");
    // A pipe in a class name is escaped, not a new column.
    expect(md).toContain("| d\\|og | 1 | 0.00% | 0.00% | 0.00% | cat (1) |");
    expect(md).toContain("| *macro average* | 4 | 16.67% | 16.67% | 16.67% |  |");
    expect(md).toContain("| cat | frog | 1 | 50.00% |");
    expect(md).toContain("#### Calibration");
    expect(md).toMatch(/\| 0\.50–1\.00 \| 3 \| 33\.33% \|/);
    expect(md).toMatch(/\| cat \| 13 \| frog \| 98\.\d\d% \| 0\.\d\d% \|/);
    expect(md.endsWith("|\n")).toBe(true);
  });

  it("leaves the mistakes out on request and rejects non-results", () => {
    const md = toMarkdown(result(), { mistakesPerClass: 0 });
    expect(md.startsWith("## Evaluation\n")).toBe(true);
    expect(md).not.toContain("Most confident mistakes");
    expect(() => toMarkdown({} as MetricsResult)).toThrow(MetricsError);
    expect(() => toMarkdown(result(), { headingLevel: 7 })).toThrow(/headingLevel/);
  });
});
