import { describe, expect, it } from "vitest";
import { horizontalFlip, Rng } from "./index.js";

const at = (img: Uint8Array, y: number, x: number, c: number) => img[(y * 32 + x) * 3 + c];
const fixed = (f: number) => ({ next: () => f, int: () => 0 }) as unknown as Rng;

function image(): Uint8Array {
  const img = new Uint8Array(3072);
  for (let i = 0; i < img.length; i++) img[i] = (i * 13) % 251;
  return img;
}

describe("horizontalFlip", () => {
  it("mirrors columns, keeping rows and channel order, when the draw is below p", () => {
    const src = image();
    const dst = new Uint8Array(3072);
    horizontalFlip().apply(src, dst, fixed(0.49));
    expect(at(dst, 0, 0, 0)).toBe(at(src, 0, 31, 0));
    expect(at(dst, 5, 2, 1)).toBe(at(src, 5, 29, 1));
    expect(at(dst, 31, 31, 2)).toBe(at(src, 31, 0, 2));
    // Flipping twice is the identity.
    const back = new Uint8Array(3072);
    horizontalFlip().apply(dst, back, fixed(0));
    expect([...back]).toEqual([...src]);
  });

  it("copies the image unchanged when the draw is at or above p", () => {
    const src = image();
    const dst = new Uint8Array(3072);
    horizontalFlip({ probability: 0.5 }).apply(src, dst, fixed(0.5));
    expect([...dst]).toEqual([...src]);
    horizontalFlip({ probability: 0 }).apply(src, dst, fixed(0));
    expect([...dst]).toEqual([...src]);
  });

  it("flips about half the images with a real seeded Rng, the same ones for the same seed", () => {
    const src = image();
    const dst = new Uint8Array(3072);
    const run = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 1000 }, () => {
        horizontalFlip().apply(src, dst, rng);
        return at(dst, 0, 0, 0) !== at(src, 0, 0, 0);
      });
    };
    const flips = run(4);
    expect(run(4)).toEqual(flips);
    const count = flips.filter(Boolean).length;
    expect(count).toBeGreaterThan(440);
    expect(count).toBeLessThan(560);
  });

  it("rejects a probability outside [0, 1]", () => {
    expect(() => horizontalFlip({ probability: 1.5 })).toThrow(
      /horizontalFlip probability: expected a number in \[0, 1\], got 1.5/,
    );
  });
});
