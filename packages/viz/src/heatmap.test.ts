import { describe, expect, it } from "vitest";
import { colorDistance, elements, rendered, rgbOf, texts } from "../test/pixels.js";
import { colorForValue, heatmap, VizError } from "./index.js";
import { textWidth } from "./svg.js";

const labels = ["cat", "dog", "ship"];
const counts = [
  [8, 2, 0],
  [1, 9, 0],
  [0, 0, 10],
];

describe("heatmap", () => {
  it("colours each cell by its value on the scale (rows = values[r])", () => {
    const picture = heatmap({ values: counts, rowLabels: labels, columnLabels: labels });
    const cells = elements(picture.toSVG(), "rect").filter(
      (r) => r["shape-rendering"] === "crispEdges",
    );
    expect(cells).toHaveLength(9);
    const png = rendered(picture);
    for (const [r, row] of counts.entries()) {
      for (const [c, value] of row.entries()) {
        const cell = cells[r * 3 + c]!;
        expect(cell.fill).toBe(colorForValue(value, { min: 0, max: 10, scheme: "blues" }));
        // A corner pixel of the cell, away from its text: exactly the scale's colour.
        expect(png.at(Number(cell.x) + 2, Number(cell.y) + 2)).toEqual(rgbOf(cell.fill!));
      }
    }
    // Row r is drawn below row r-1, column c right of column c-1.
    expect(Number(cells[3]!.y)).toBeGreaterThan(Number(cells[0]!.y));
    expect(Number(cells[1]!.x)).toBeGreaterThan(Number(cells[0]!.x));
  });

  it("writes cell text, labels, axis titles and colour bar ticks as SVG text", () => {
    const rowSums = counts.map((row) => row.reduce((a, b) => a + b, 0));
    const picture = heatmap({
      values: counts,
      rowLabels: labels,
      columnLabels: labels,
      cellText: (r, c) => `${counts[r]![c]}\n${Math.round((100 * counts[r]![c]!) / rowSums[r]!)}%`,
      title: "Confusion matrix",
      xLabel: "predicted",
      yLabel: "true",
    });
    const all = texts(picture.toSVG());
    expect(all).toContain("Confusion matrix");
    expect(all).toContain("8\n80%");
    expect(all).toContain("predicted");
    expect(all).toContain("true");
    expect(all.filter((t) => t === "ship")).toHaveLength(2); // once per axis
    expect(all).toContain("10"); // colour bar top
    expect(picture.toSVG()).toContain("<linearGradient");
  });

  it("uses white text on dark cells and black on light ones", () => {
    const picture = heatmap({
      values: [[0, 1]],
      rowLabels: ["r"],
      columnLabels: ["low", "high"],
      cellText: () => "888",
      colorBar: false,
    });
    const cellTexts = elements(picture.toSVG(), "text").filter(
      (t) => t["font-size"] === "11" && t.fill?.match(/^#(0{6}|f{6})$/),
    );
    expect(cellTexts.map((t) => t.fill)).toEqual(["#000000", "#ffffff"]);
    // The dark cell really has light pixels where its text is.
    const png = rendered(picture);
    const high = elements(picture.toSVG(), "rect").filter(
      (r) => r["shape-rendering"] === "crispEdges",
    )[1]!;
    let light = 0;
    for (let y = Number(high.y); y < Number(high.y) + Number(high.height); y++) {
      for (let x = Number(high.x); x < Number(high.x) + Number(high.width); x++) {
        if (colorDistance(png.at(x, y), [255, 255, 255]) < 60) light++;
      }
    }
    expect(light).toBeGreaterThan(5);
  });

  it("respects min/max and schemes, and greys out NaN cells", () => {
    const picture = heatmap({
      values: [[0.5, Number.NaN]],
      rowLabels: ["a"],
      columnLabels: ["x", "y"],
      min: 0,
      max: 1,
      scheme: "viridis",
    });
    const cells = elements(picture.toSVG(), "rect").filter(
      (r) => r["shape-rendering"] === "crispEdges",
    );
    expect(cells[0]!.fill).toBe(colorForValue(0.5));
    expect(cells[1]!.fill).toBe("#e0e0e0");
  });

  it("keeps long turned column labels inside the picture", () => {
    const long = ["a very long class name indeed", "b"];
    const svg = heatmap({
      values: [
        [1, 2],
        [3, 4],
      ],
      rowLabels: ["x", "y"],
      columnLabels: long,
    }).toSVG();
    const first = elements(svg, "text").find((t) => t.transform?.startsWith("rotate(-45"))!;
    expect(Number(first.x) - textWidth(long[0]!, 11) * Math.SQRT1_2).toBeGreaterThanOrEqual(0);
  });

  it("rejects ragged values and label counts that do not match, naming them", () => {
    expect(() =>
      heatmap({ values: [[1, 2], [3]], rowLabels: ["a", "b"], columnLabels: ["x", "y"] }),
    ).toThrow(/values\[1\]: expected 2 numbers \(one per column label\), got an array of 1/);
    expect(() => heatmap({ values: [[1]], rowLabels: ["a", "b"], columnLabels: ["x"] })).toThrow(
      /rowLabels.*expected 1 strings, got 2/,
    );
    expect(() => heatmap({ values: [], rowLabels: [], columnLabels: [] })).toThrow(VizError);
    expect(() =>
      heatmap({ values: [[1]], rowLabels: ["a"], columnLabels: ["x"], min: 2, max: 1 }),
    ).toThrow(/min ≤ max, got 2 and 1/);
  });
});
