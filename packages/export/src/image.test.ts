import { encode as encodePng } from "fast-png";
import jpeg from "jpeg-js";
import { describe, expect, it } from "vitest";
import { decodeImage, normalizePixels, preprocessImage, type RgbImage } from "./image.js";
import type { Manifest } from "./manifest.js";

const manifest = (
  resize: Manifest["preprocessing"]["resize"],
  size = 2,
): Pick<Manifest, "input" | "normalization" | "preprocessing"> => ({
  input: { shape: [size, size, 3], layout: "NHWC", dtype: "float32", channelOrder: "RGB" },
  // Identity normalisation (mean 0, std 1, no scaling) so outputs are plain resampled pixels.
  normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
  preprocessing: { resize, filter: "area-bilinear", pixelScale: 1, steps: [] },
});

function rgb(
  width: number,
  height: number,
  f: (x: number, y: number, c: number) => number,
): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = f(x, y, c);
  return { data, width, height, channels: 3 };
}

describe("decodeImage", () => {
  it("decodes RGB, RGBA, grey and 16-bit PNGs to 8-bit RGB", () => {
    const img = rgb(3, 2, (x, y, c) => x * 50 + y * 10 + c);
    expect(
      decodeImage(encodePng({ width: 3, height: 2, data: img.data, channels: 3 }), "a.png"),
    ).toEqual(img);
    const rgba = new Uint8Array(3 * 2 * 4).map((_, i) =>
      i % 4 === 3 ? 7 : (img.data[Math.floor(i / 4) * 3 + (i % 4)] as number),
    );
    expect(
      decodeImage(encodePng({ width: 3, height: 2, data: rgba, channels: 4 }), "b.png"),
    ).toEqual(img);
    const grey = decodeImage(
      encodePng({ width: 2, height: 1, data: new Uint8Array([9, 200]), channels: 1 }),
      "c.png",
    );
    expect(Array.from(grey.data)).toEqual([9, 9, 9, 200, 200, 200]);
    const deep = decodeImage(
      encodePng({
        width: 1,
        height: 1,
        data: new Uint16Array([0x1234, 0xabcd, 0xff00]),
        channels: 3,
        depth: 16,
      }),
      "d.png",
    );
    expect(Array.from(deep.data)).toEqual([0x12, 0xab, 0xff]);
  });

  it("decodes a JPEG close to its pixels", () => {
    const img = rgb(16, 16, (x, _y, c) => (c === 0 ? 200 : c === 1 ? 40 + x : 90));
    const rgba = new Uint8Array(16 * 16 * 4).map((_, i) =>
      i % 4 === 3 ? 255 : (img.data[Math.floor(i / 4) * 3 + (i % 4)] as number),
    );
    const bytes = jpeg.encode({ width: 16, height: 16, data: rgba }, 95).data;
    const out = decodeImage(bytes, "e.jpg");
    expect([out.width, out.height, out.channels]).toEqual([16, 16, 3]);
    const worst = out.data.reduce(
      (m, v, i) => Math.max(m, Math.abs(v - (img.data[i] as number))),
      0,
    );
    expect(worst).toBeLessThanOrEqual(6); // JPEG is lossy; quality 95 on a smooth picture stays close
  });

  it("names the file when the bytes are not an image or a corrupt one", () => {
    expect(() => decodeImage(new TextEncoder().encode("hello world"), "notes.txt")).toThrow(
      "notes.txt: expected a PNG or JPEG image, got 11 bytes starting 68 65 6c 6c",
    );
    expect(() => decodeImage(new Uint8Array(0), "empty.png")).toThrow(
      "empty.png: expected a PNG or JPEG image, got 0 bytes starting (empty)",
    );
    const png = encodePng({ width: 4, height: 4, data: new Uint8Array(48), channels: 3 });
    expect(() => decodeImage(png.subarray(0, 30), "cut.png")).toThrow(/^cut\.png: corrupt PNG/);
    expect(() => decodeImage(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]), "cut.jpg")).toThrow(
      /^cut\.jpg: corrupt JPEG/,
    );
  });
});

describe("decodeImage's pixel cap", () => {
  it("refuses a PNG declaring more than 100 megapixels before decoding it, as JPEGs are", () => {
    // A small file can declare a huge picture that compresses to nothing (a decompression bomb):
    // the size is read from the IHDR chunk, and nothing is inflated.
    const png = encodePng({ width: 2, height: 2, data: new Uint8Array(12), channels: 3 });
    const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
    view.setUint32(16, 20_000);
    view.setUint32(20, 10_000);
    expect(() => decodeImage(png, "bomb.png")).toThrow(
      /^bomb\.png: PNG of 20000×10000 = 200 megapixels, more than the 100 megapixels this decoder accepts/,
    );
    view.setUint32(16, 10_000);
    view.setUint32(20, 10_000);
    // 100 megapixels exactly passes the cap (and fails only as the corrupt file it now is).
    expect(() => decodeImage(png, "edge.png")).toThrow(/^edge\.png: corrupt PNG/);
  });
});

describe("preprocessImage", () => {
  it("area-averages when shrinking", () => {
    // 4×4 → 2×2: each output pixel is the mean of a 2×2 block.
    const img = rgb(4, 4, (x, y) => (x < 2 ? 0 : 100) + (y < 2 ? 0 : 40) + (x % 2) * 4);
    const out = preprocessImage(img, manifest("stretch"));
    expect(Array.from(out.filter((_, i) => i % 3 === 0))).toEqual([2, 102, 42, 142]);
  });

  it("centre-crops the longer side to keep the aspect ratio, or stretches when asked", () => {
    // 4 wide × 2 high: columns 0 and 3 are outside the centred square crop.
    const img = rgb(4, 2, (x) => [250, 10, 30, 250][x] as number);
    expect(
      Array.from(
        preprocessImage(img, manifest("resize-shorter-then-center-crop")).filter(
          (_, i) => i % 3 === 0,
        ),
      ),
    ).toEqual([10, 30, 10, 30]);
    expect(
      Array.from(preprocessImage(img, manifest("stretch")).filter((_, i) => i % 3 === 0)),
    ).toEqual([130, 140, 130, 140]);
  });

  it("enlarges bilinearly and repeats grey into three channels", () => {
    const img: RgbImage = { data: new Uint8Array([0, 100]), width: 2, height: 1, channels: 1 };
    const out = preprocessImage(img, manifest("stretch", 4));
    // Output centres at source x = -0.25, 0.25, 0.75, 1.25 (clamped at the edges).
    expect(Array.from(out.subarray(0, 12).filter((_, i) => i % 3 === 0))).toEqual([0, 25, 75, 100]);
    expect(Array.from(out.subarray(3, 6))).toEqual([25, 25, 25]);
  });

  it("normalises with the manifest's stats, the same way for decoded files and dataset bytes", () => {
    const m = {
      ...manifest("stretch"),
      normalization: { mean: [0.5, 0.25, 0], std: [0.5, 0.25, 2] },
      preprocessing: { ...manifest("stretch").preprocessing, pixelScale: 255 },
    };
    const img = rgb(2, 2, (x, y, c) => (x + y * 2) * 60 + c);
    const a = preprocessImage(img, m);
    const b = normalizePixels(img.data, m);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(b[0]).toBeCloseTo((0 / 255 - 0.5) / 0.5, 6);
    expect(b[5]).toBeCloseTo((62 / 255 - 0) / 2, 6);
  });
});
