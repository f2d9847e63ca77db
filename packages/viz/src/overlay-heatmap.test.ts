import { describe, expect, it } from "vitest";
import { rgbOf } from "../test/pixels.js";
import { colorForValue, heatToImage, overlayHeatmap, type RgbImage, VizError } from "./index.js";

const gray = (w: number, h: number, v: number): RgbImage => ({
  data: new Uint8Array(w * h * 3).fill(v),
  width: w,
  height: h,
});

describe("heatToImage", () => {
  it("colours each value on the scale, row-major, min to max", () => {
    const image = heatToImage([
      [0, 1],
      [2, 4],
    ]);
    expect([image.width, image.height, image.channels]).toEqual([2, 2, 3]);
    expect(Array.from(image.data.subarray(0, 3))).toEqual(rgbOf(colorForValue(0)));
    expect(Array.from(image.data.subarray(3, 6))).toEqual(rgbOf(colorForValue(0.25)));
    expect(Array.from(image.data.subarray(9, 12))).toEqual(rgbOf(colorForValue(1)));
  });

  it("reads flat arrays with heatShape, and square ones without", () => {
    expect(heatToImage(new Float32Array(6), { heatShape: [2, 3] }).width).toBe(3);
    expect(heatToImage(new Float32Array(16)).height).toBe(4);
    expect(() => heatToImage(new Float32Array(6))).toThrow(/6 values needs options\.heatShape/);
    expect(() => heatToImage([[1, 2], [3]])).toThrow(VizError);
  });
});

describe("overlayHeatmap", () => {
  it("blends the heat colour over the image with the given alpha", () => {
    const out = overlayHeatmap(gray(4, 4, 100), [[5]], {
      alpha: 0.5,
      min: 0,
      max: 10,
      scheme: "blues",
    });
    const colour = rgbOf(colorForValue(0.5, { scheme: "blues" }));
    expect(Array.from(out.data.subarray(0, 3))).toEqual(colour.map((c) => Math.round(50 + c / 2)));
    const none = overlayHeatmap(gray(2, 2, 100), [[5]], { alpha: 0 });
    expect(Array.from(none.data)).toEqual(Array.from(gray(2, 2, 100).data));
  });

  it("stretches a coarse map over the image: hot cell lands on the matching quadrant", () => {
    // 2×2 heat, hot top-left, over an 8×8 image: the top-left pixel is hottest, bottom-right coldest.
    const out = overlayHeatmap(
      gray(8, 8, 0),
      [
        [1, 0],
        [0, 0],
      ],
      { alpha: 1, scheme: "blues" },
    );
    const at = (x: number, y: number) =>
      Array.from(out.data.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3));
    expect(at(0, 0)).toEqual(rgbOf(colorForValue(1, { scheme: "blues" })));
    expect(at(7, 7)).toEqual(rgbOf(colorForValue(0, { scheme: "blues" })));
    // Interpolated in between, and symmetric about the diagonal.
    expect(at(4, 1)).toEqual(at(1, 4));
    // Blues go from light (cold) to dark (hot): the centre is in between.
    expect(at(0, 0)[0]).toBeLessThan(at(4, 4)[0]!);
    expect(at(4, 4)[0]).toBeLessThan(at(7, 7)[0]!);
  });

  it("accepts grayscale images and returns RGB", () => {
    const out = overlayHeatmap(
      { data: new Uint8Array(4).fill(200), width: 2, height: 2, channels: 1 },
      [[0]],
      {
        alpha: 0,
      },
    );
    expect(out.channels).toBe(3);
    expect(Array.from(out.data)).toEqual(new Array(12).fill(200));
  });

  it("rejects alpha outside [0, 1]", () => {
    expect(() => overlayHeatmap(gray(2, 2, 0), [[0]], { alpha: 2 })).toThrow(
      /alpha: expected a number in \[0, 1\], got 2/,
    );
  });
});
