import { describe, expect, it } from "vitest";
import { selectMistakes, sliceImage } from "./failure-gallery.js";
import { MetricsError } from "./index.js";
import { failureGallery } from "./pictures.js";
import { smallResult } from "./test-result.js";

/** Four 2×2 RGB images; every byte of image i is 10·i + channel, so slices are checkable. */
function tinySplit() {
  const images = new Uint8Array(4 * 2 * 2 * 3);
  for (let i = 0; i < images.length; i++) images[i] = 10 * Math.floor(i / 12) + (i % 3);
  return { images, length: 4 };
}
const shape = { height: 2, width: 2, channels: 3 } as const;

describe("failureGallery", () => {
  it("picks the most confident mistakes across classes, capped per class", () => {
    const r = smallResult();
    expect(selectMistakes(r, 10, 10).map((m) => m.index)).toEqual([3, 1, 2]);
    expect(selectMistakes(r, 2, 10).map((m) => m.index)).toEqual([3, 1]);
    expect(selectMistakes(r, 10, 1)).toHaveLength(3);
  });

  it("slices the right image out of an NHWC split", () => {
    const img = sliceImage(tinySplit(), 2, shape);
    expect(img).toMatchObject({ width: 2, height: 2, channels: 3 });
    expect(Array.from(img.data)).toEqual([20, 21, 22, 20, 21, 22, 20, 21, 22, 20, 21, 22]);
  });

  it("captions each image with true → predicted, confidence and dataset index", () => {
    const pic = failureGallery(smallResult(), tinySplit(), { imageShape: shape, columns: 2 });
    const svg = pic.toSVG();
    expect(svg).toContain("Most confident mistakes (3 shown)");
    expect(svg).toContain("cat → frog");
    expect(svg).toContain("99% · #3");
    expect(svg).toContain("d|og → cat");
    expect(pic.width).toBeGreaterThan(0);
  });

  it("names what is wrong with the images or the options", () => {
    const r = smallResult();
    const split = tinySplit();
    expect(() =>
      failureGallery(r, { images: split.images, length: 3 }, { imageShape: shape }),
    ).toThrow(
      /expected \{ images: Uint8Array of length × 2×2×3, length \}, got 48 bytes for length 3/,
    );
    expect(() =>
      failureGallery(r, { images: split.images.subarray(0, 24), length: 2 }, { imageShape: shape }),
    ).toThrow(/dataset index 3 is outside images \(length 2\)/);
    expect(() => failureGallery(r, split, { imageShape: shape, limit: 0 })).toThrow(MetricsError);
    expect(() => failureGallery(r, split)).toThrow(/32×32×3/);
  });
});
