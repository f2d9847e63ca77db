import { describe, expect, it } from "vitest";
import { decodePNG, lineChart, VizError } from "./index.js";
import { renderSvgToPng } from "./picture.js";

describe("Picture", () => {
  it("renders PNG at the picture's size, and at a multiple of it", () => {
    const picture = lineChart({
      series: [{ name: "loss", y: [3, 2, 1] }],
      width: 300,
      height: 200,
    });
    expect(picture.toSVG()).toMatch(/^<svg [^>]*width="300" height="200"/);
    const one = decodePNG(picture.toPNG());
    expect([one.width, one.height]).toEqual([300, 200]);
    const two = decodePNG(picture.toPNG({ scale: 2 }));
    expect([two.width, two.height]).toEqual([600, 400]);
  });

  it("returns a fresh copy of the PNG bytes each time", () => {
    const picture = lineChart({ series: [{ name: "loss", y: [3, 2, 1] }] });
    const a = picture.toPNG();
    a.fill(0);
    expect(Array.from(picture.toPNG().subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
    expect(Object.getPrototypeOf(a)).toBe(Uint8Array.prototype);
  });

  it("draws text with the shipped font, not system fonts (text pixels exist)", () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"><rect width="100%" height="100%" fill="#fff"/><text x="4" y="22" font-size="18" font-family="DejaVu Sans">Mixed 0.93</text></svg>`;
    const png = decodePNG(renderSvgToPng(svg));
    let dark = 0;
    for (let i = 0; i < png.data.length; i += png.channels) if (png.data[i]! < 128) dark++;
    expect(dark).toBeGreaterThan(100);
    // An unknown family falls back to DejaVu too (resvg's default family), so text never vanishes.
    const fallback = decodePNG(renderSvgToPng(svg.replace("DejaVu Sans", "No Such Font")));
    expect(Array.from(fallback.data)).toEqual(Array.from(png.data));
  });

  it("rejects a bad scale, naming the option", () => {
    const picture = lineChart({ series: [{ name: "loss", y: [1, 2] }] });
    expect(() => picture.toPNG({ scale: 0 })).toThrow(VizError);
    expect(() => picture.toPNG({ scale: 0 })).toThrow(
      /options\.scale: expected a number in \(0, 16\], got 0/,
    );
  });
});
