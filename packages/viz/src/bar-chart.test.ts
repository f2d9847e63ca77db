import { describe, expect, it } from "vitest";
import { elements, rendered, rgbOf, texts } from "../test/pixels.js";
import { barChart, CATEGORICAL_COLORS, VizError } from "./index.js";
import { textWidth } from "./svg.js";

const labels = ["airplane", "automobile", "bird", "cat"];
const values = [0.9, 0.95, 0.6, 0.3];

function bars(svg: string) {
  return elements(svg, "rect").filter((r) => r["data-label"]);
}

describe("barChart", () => {
  it("draws one bar per label from zero, heights proportional to values", () => {
    const picture = barChart({
      labels,
      values,
      title: "Per-class accuracy",
      yLabel: "accuracy",
      yRange: [0, 1],
    });
    const drawn = bars(picture.toSVG());
    expect(drawn.map((b) => b["data-label"])).toEqual(labels);
    const bottoms = drawn.map((b) => Number(b.y) + Number(b.height));
    expect(new Set(bottoms.map((v) => v.toFixed(1))).size).toBe(1);
    const heights = drawn.map((b) => Number(b.height));
    for (let i = 1; i < 4; i++)
      expect(heights[i]! / heights[0]!).toBeCloseTo(values[i]! / values[0]!, 2);
    const png = rendered(picture);
    const b = drawn[2]!;
    expect(png.at(Number(b.x) + Number(b.width) / 2, Number(b.y) + Number(b.height) / 2)).toEqual(
      rgbOf(CATEGORICAL_COLORS[0]!),
    );
    const all = texts(picture.toSVG());
    expect(all).toEqual(
      expect.arrayContaining([
        ...labels,
        "0.9",
        "0.95",
        "0.6",
        "0.3",
        "accuracy",
        "Per-class accuracy",
      ]),
    );
  });

  it("hangs negative values below the zero line and takes per-bar colours and text", () => {
    const picture = barChart({
      labels: ["a", "b"],
      values: [2, -1],
      colors: ["#00ff00", "#ff0000"],
      valueText: (v) => `${v > 0 ? "+" : ""}${v}`,
    });
    const [up, down] = bars(picture.toSVG());
    expect(up!.fill).toBe("#00ff00");
    expect(down!.fill).toBe("#ff0000");
    // The positive bar ends where the negative one starts: at zero.
    expect(Number(up!.y) + Number(up!.height)).toBeCloseTo(Number(down!.y), 5);
    expect(Number(up!.height) / Number(down!.height)).toBeCloseTo(2, 3);
    expect(texts(picture.toSVG())).toEqual(expect.arrayContaining(["+2", "-1"]));
  });

  it("turns labels that would collide", () => {
    const narrow = barChart({ labels, values, width: 200 }).toSVG();
    expect(
      elements(narrow, "text").filter((t) => t.transform?.startsWith("rotate(-40")),
    ).toHaveLength(4);
    const wide = barChart({ labels: ["a", "b"], values: [1, 2] }).toSVG();
    expect(elements(wide, "text").some((t) => t.transform)).toBe(false);
  });

  it("widens the left margin so long turned labels stay inside the picture", () => {
    const long = ["a very long class name indeed", "b", "c"];
    const svg = barChart({ labels: long, values: [1, 2, 3], width: 200 }).toSVG();
    const first = elements(svg, "text").find((t) => t.transform?.startsWith("rotate(-40"))!;
    const reach = Number(first.x) - textWidth(long[0]!, 11) * Math.cos((40 * Math.PI) / 180);
    expect(reach).toBeGreaterThanOrEqual(0);
  });

  it("rejects values that do not match the labels, naming the bad one", () => {
    expect(() => barChart({ labels, values: [1, 2] })).toThrow(
      /expected 4 numbers \(one per label\), got an array of 2/,
    );
    expect(() => barChart({ labels: ["cat"], values: [Number.NaN] })).toThrow(
      /values\[0\] \("cat"\): expected a finite number, got NaN/,
    );
    expect(() => barChart({ labels: [], values: [] })).toThrow(VizError);
  });
});
