import { describe, expect, it } from "vitest";
import { elements, rendered, rgbOf, texts } from "../test/pixels.js";
import { imageGrid, type RgbImage, RIGHT_COLOR, VizError, WRONG_COLOR } from "./index.js";

/** A 4×4 RGB image whose pixel (x, y) is (x*60, y*60, k*40): every pixel is distinct. */
function tile(k: number, size = 4): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) data.set([x * 60, y * 60, k * 40], (y * size + x) * 3);
  }
  return { data, width: size, height: size };
}

describe("imageGrid", () => {
  it("places every source pixel as an exact scale×scale block (nearest neighbour)", () => {
    const images = [tile(0), tile(1), tile(2), tile(3), tile(4)];
    const picture = imageGrid({ images, columns: 3, scale: 5 });
    const placed = elements(picture.toSVG(), "image");
    expect(placed).toHaveLength(5);
    // 3 columns: images 0..2 share a row, 3..4 the next, left to right.
    expect(new Set(placed.slice(0, 3).map((p) => p.y)).size).toBe(1);
    expect(Number(placed[3]!.y)).toBeGreaterThan(Number(placed[0]!.y));
    expect(Number(placed[1]!.x)).toBeGreaterThan(Number(placed[0]!.x));
    const png = rendered(picture);
    expect([png.width, png.height]).toEqual([picture.width, picture.height]);
    placed.forEach((p, k) => {
      expect([p.width, p.height]).toEqual(["20", "20"]);
      for (let y = 0; y < 4; y++) {
        for (let x = 0; x < 4; x++) {
          const expected = [x * 60, y * 60, k * 40];
          // The first and last output pixel of each 5×5 block: no blending at block edges.
          const x0 = Number(p.x) + x * 5;
          const y0 = Number(p.y) + y * 5;
          expect(png.at(x0, y0)).toEqual(expected);
          expect(png.at(x0 + 4, y0 + 4)).toEqual(expected);
        }
      }
    });
  });

  it("defaults to a square-ish grid and a scale that makes 32×32 images 96 px", () => {
    const images = Array.from({ length: 10 }, (_, k) => tile(k % 6, 32));
    const placed = elements(imageGrid({ images }).toSVG(), "image");
    expect(placed[0]!.width).toBe("96");
    expect(new Set(placed.map((p) => p.y)).size).toBe(3); // ceil(sqrt(10)) = 4 columns → 3 rows
    expect(elements(imageGrid({ images: [tile(0, 200)] }).toSVG(), "image")[0]!.width).toBe("200");
  });

  it("draws borders in the given colours, outside the image, and none for null", () => {
    const picture = imageGrid({
      images: [tile(0), tile(1), tile(2)],
      scale: 8,
      borders: [RIGHT_COLOR, WRONG_COLOR, null],
    });
    const png = rendered(picture);
    const placed = elements(picture.toSVG(), "image");
    const outside = (p: Record<string, string>) => png.at(Number(p.x) - 1, Number(p.y) + 10);
    expect(outside(placed[0]!)).toEqual(rgbOf(RIGHT_COLOR));
    expect(outside(placed[1]!)).toEqual(rgbOf(WRONG_COLOR));
    expect(outside(placed[2]!)).toEqual([255, 255, 255]);
    // The image itself is not covered by the border.
    expect(png.at(Number(placed[0]!.x), Number(placed[0]!.y))).toEqual([0, 0, 0]);
  });

  it("keeps captions and the title as SVG text, escaped, and makes cells wide enough", () => {
    const captions = ["cat\n→ dog 0.93", 'a <b> & "c"'];
    const picture = imageGrid({
      images: [tile(0), tile(1)],
      scale: 1,
      captions,
      title: "Failures",
    });
    const svg = picture.toSVG();
    expect(texts(svg)).toEqual(["Failures", ...captions]);
    expect(svg).toContain("a &lt;b&gt; &amp; &quot;c&quot;");
    // 4 px images with a long caption: the cell grows to the caption, not the other way round.
    expect(picture.width).toBeGreaterThan(2 * 60);
    // Caption text really is drawn: dark pixels under the first image.
    const png = rendered(picture);
    const image = elements(svg, "image")[0]!;
    let dark = 0;
    for (let y = Number(image.y) + 6; y < png.height; y++) {
      for (let x = 0; x < png.width / 2; x++) if (png.at(x, y)[0]! < 100) dark++;
    }
    expect(dark).toBeGreaterThan(20);
  });

  it("accepts grayscale images and enlarges smaller images to fill the cell", () => {
    const gray: RgbImage = {
      data: new Uint8Array([0, 255, 255, 0]),
      width: 2,
      height: 2,
      channels: 1,
    };
    const picture = imageGrid({ images: [gray, tile(1, 6), tile(2, 4)], columns: 3, scale: 3 });
    const png = rendered(picture);
    const placed = elements(picture.toSVG(), "image");
    // Cells are 6×3 = 18 px: the 2×2 image is enlarged 9×, the 4×4 one 4× (16 px, centred).
    expect(placed.map((p) => p.width)).toEqual(["18", "18", "16"]);
    expect(png.at(Number(placed[0]!.x) + 9, Number(placed[0]!.y))).toEqual([255, 255, 255]);
    expect(png.at(Number(placed[0]!.x) + 8, Number(placed[0]!.y))).toEqual([0, 0, 0]);
    expect(Number(placed[2]!.y)).toBe(Number(placed[1]!.y) + 1);
  });

  it("rejects inconsistent options, naming the option and the counts", () => {
    const images = [tile(0), tile(1)];
    expect(() => imageGrid({ images: [] })).toThrow(VizError);
    expect(() => imageGrid({ images, captions: ["one"] })).toThrow(
      /options\.captions.*expected 2 strings, got 1/,
    );
    expect(() => imageGrid({ images, borders: [null] })).toThrow(/options\.borders: expected 2/);
    expect(() => imageGrid({ images, scale: 1.5 })).toThrow(
      /options\.scale: expected a positive integer, got 1.5/,
    );
    expect(() =>
      imageGrid({ images: [tile(0), { data: new Uint8Array(5), width: 4, height: 4 }] }),
    ).toThrow(/images\[1\]\.data: expected 48 bytes/);
  });
});
