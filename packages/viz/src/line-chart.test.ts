import { describe, expect, it } from "vitest";
import { elements, rendered, rgbOf, texts } from "../test/pixels.js";
import { CATEGORICAL_COLORS, lineChart, VizError } from "./index.js";
import { smoothSeries } from "./line-chart.js";

/** The points of an SVG path "M x y L x y … M …" as runs of [x, y]. */
function runs(d: string): [number, number][][] {
  return d
    .split("M")
    .filter(Boolean)
    .map((run) => run.split("L").map((p) => p.trim().split(" ").map(Number) as [number, number]));
}

describe("lineChart", () => {
  it("draws each series as a path in its colour, mapping larger y higher up", () => {
    const picture = lineChart({
      series: [
        { name: "train loss", y: [2, 1.5, 1, 0.5] },
        { name: "val loss", x: [0, 3], y: [2.2, 0.9], dashed: true },
      ],
      title: "Loss",
      xLabel: "step",
      yLabel: "loss",
    });
    expect([picture.width, picture.height]).toEqual([640, 400]);
    const paths = elements(picture.toSVG(), "path").filter((p) => p["data-series"]);
    expect(paths.map((p) => p["data-series"])).toEqual(["train loss", "val loss"]);
    expect(paths.map((p) => p.stroke)).toEqual([CATEGORICAL_COLORS[0], CATEGORICAL_COLORS[1]]);
    expect(paths[1]!["stroke-dasharray"]).toBeDefined();
    const train = runs(paths[0]!.d!)[0]!;
    expect(train).toHaveLength(4);
    // x increases left to right, y decreases → pixel y increases (lower on screen).
    for (let k = 1; k < 4; k++) {
      expect(train[k]![0]).toBeGreaterThan(train[k - 1]![0]);
      expect(train[k]![1]).toBeGreaterThan(train[k - 1]![1]);
    }
    // The val series spans the same x range as the train series (explicit x honoured).
    const val = runs(paths[1]!.d!)[0]!;
    expect(val[0]![0]).toBeCloseTo(train[0]![0]);
    expect(val[1]![0]).toBeCloseTo(train[3]![0]);
    // The PNG has the series colour under a point of the line.
    const png = rendered(picture);
    const [px, py] = train[1]!;
    const near: number[][] = [];
    for (let dy = -1; dy <= 1; dy++) near.push(png.at(px, py + dy));
    expect(near).toContainEqual(rgbOf(CATEGORICAL_COLORS[0]!));
    const all = texts(picture.toSVG());
    expect(all).toEqual(
      expect.arrayContaining(["Loss", "step", "loss", "train loss", "val loss", "0", "3"]),
    );
  });

  it("uses the series name as y label when there is one series, without a legend", () => {
    const svg = lineChart({ series: [{ name: "lr", y: [1, 2, 3] }] }).toSVG();
    expect(texts(svg).filter((t) => t === "lr")).toHaveLength(1);
  });

  it("leaves gaps at NaN, and at values ≤ 0 on a log axis", () => {
    const linear = lineChart({ series: [{ name: "grad norm", y: [1, 2, Number.NaN, 3, 4] }] });
    const d = elements(linear.toSVG(), "path").find((p) => p["data-series"])!.d!;
    expect(runs(d).map((r) => r.length)).toEqual([2, 2]);
    const log = lineChart({ series: [{ name: "lr", y: [1e-3, 0, 1e-2, 1e-1] }], logY: true });
    const logD = elements(log.toSVG(), "path").find((p) => p["data-series"])!.d!;
    const logRuns = runs(logD);
    expect(logRuns.map((r) => r.length)).toEqual([1, 2]);
    // Decades are evenly spaced on a log axis.
    const [a, b] = logRuns[1]!;
    expect(Math.abs(b![1] - a![1])).toBeCloseTo(Math.abs(logRuns[0]![0]![1] - a![1]), 5);
    expect(texts(log.toSVG())).toEqual(expect.arrayContaining(["0.001", "0.01", "0.1"]));
  });

  it("clips to a fixed yRange and thins very long series but keeps their extremes", () => {
    const y = Array.from({ length: 20000 }, (_, i) => (i === 12345 ? 5 : Math.sin(i / 100)));
    const picture = lineChart({ series: [{ name: "loss", y }], yRange: [-1, 1] });
    const d = elements(picture.toSVG(), "path").find((p) => p["data-series"])!.d!;
    const points = runs(d)[0]!;
    expect(points.length).toBeLessThan(4000);
    const ys = points.map((p) => p[1]);
    // The spike survives thinning (it is drawn above the plot top, then clipped away).
    const top = Math.min(...ys);
    expect(top).toBeLessThan(
      Math.min(...points.filter((_, k) => k !== ys.indexOf(top)).map((p) => p[1])) - 50,
    );
    expect(picture.toSVG()).toContain("clip-path=");
  });

  it("rejects mismatched x and empty series, naming the series", () => {
    expect(() => lineChart({ series: [] })).toThrow(VizError);
    expect(() => lineChart({ series: [{ name: "loss", y: [] }] })).toThrow(
      /expected at least one point, got 1 empty series \("loss"\)/,
    );
    // All-NaN data still draws an empty, labelled frame rather than failing mid-run.
    expect(lineChart({ series: [{ name: "loss", y: [Number.NaN] }] }).toSVG()).toContain("<svg");
    expect(() => lineChart({ series: [{ name: "acc", x: [0, 1], y: [1, 2, 3] }] })).toThrow(
      /series\[0\] \("acc"\)\.x: expected 3 numbers \(one per y\), got an array of 2/,
    );
    expect(() =>
      lineChart({ series: [{ name: "lr", y: [1] }], logY: true, yRange: [0, 1] }),
    ).toThrow(/positive min with logY/);
  });
});

describe("lineChart smoothing", () => {
  it("averages like TensorBoard: debiased, gaps kept", () => {
    const out = smoothSeries([1, 1, Number.NaN, 1], 0.9);
    expect(out[0]).toBeCloseTo(1, 12); // debiased: not 0.1
    expect(out[1]).toBeCloseTo(1, 12);
    expect(out[2]).toBeNaN();
    expect(out[3]).toBeCloseTo(1, 12);
    const step = smoothSeries([0, 0, 10], 0.5);
    expect(step[2]).toBeCloseTo((10 * 0.5) / (1 - 0.125), 12);
  });

  it("draws long series faint as recorded and bold smoothed; short ones as recorded", () => {
    const y = Array.from({ length: 200 }, (_, i) => (i % 2 ? 1 : 3));
    const svg = lineChart({
      series: [
        { name: "loss", y },
        { name: "val", y: [2, 2] },
      ],
      smoothing: 0.9,
    }).toSVG();
    const raw = elements(svg, "path").filter((p) => p["data-raw"]);
    const bold = elements(svg, "path").filter((p) => p["data-series"]);
    expect(raw.map((p) => p["data-raw"])).toEqual(["loss"]);
    expect(raw[0]!["stroke-opacity"]).toBe("0.25");
    expect(bold.map((p) => p["data-series"])).toEqual(["loss", "val"]);
    // The smoothed zig-zag spans far less height than the raw one.
    const spread = (d: string) => {
      const ys = runs(d)
        .flat()
        .slice(50)
        .map((p) => p[1]);
      return Math.max(...ys) - Math.min(...ys);
    };
    expect(spread(bold[0]!.d!)).toBeLessThan(spread(raw[0]!.d!) / 3);
    expect(() => lineChart({ series: [{ name: "a", y }], smoothing: 1 })).toThrow(
      /smoothing: expected a number in \[0, 1\), got 1/,
    );
  });
});
