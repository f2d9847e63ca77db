import { describe, expect, it } from "vitest";
import { cutout, Rng } from "./index.js";

const scripted = (f: number, ...ints: number[]) =>
  ({ next: () => f, int: () => ints.shift()! }) as unknown as Rng;

function holes(src: Uint8Array, dst: Uint8Array): string[] {
  const out: string[] = [];
  for (let p = 0; p < 1024; p++) {
    if (dst[p * 3] !== src[p * 3]) out.push(`${Math.floor(p / 32)},${p % 32}`);
  }
  return out;
}

describe("cutout", () => {
  it("fills a size×size square centred on the drawn pixel", () => {
    const src = new Uint8Array(3072).fill(200);
    const dst = new Uint8Array(3072);
    // Centre (10, 20), size 4: rows 8–11, columns 18–21.
    cutout({ size: 4, fill: [1, 2, 3] }).apply(src, dst, scripted(0, 10, 20));
    const expected: string[] = [];
    for (let y = 8; y < 12; y++) for (let x = 18; x < 22; x++) expected.push(`${y},${x}`);
    expect(holes(src, dst)).toEqual(expected);
    const p = (9 * 32 + 19) * 3;
    expect([dst[p], dst[p + 1], dst[p + 2]]).toEqual([1, 2, 3]);
    expect(dst[(7 * 32 + 19) * 3]).toBe(200);
  });

  it("clips the square at the border", () => {
    const src = new Uint8Array(3072).fill(200);
    const dst = new Uint8Array(3072);
    // Centre (0, 31), size 3: rows −1–1 → 0–1, columns 30–32 → 30–31.
    cutout({ size: 3, fill: 0 }).apply(src, dst, scripted(0, 0, 31));
    expect(holes(src, dst)).toEqual(["0,30", "0,31", "1,30", "1,31"]);
  });

  it("fills with the CIFAR-10 mean pixel by default, and skips when the draw is ≥ p", () => {
    const src = new Uint8Array(3072).fill(7);
    const dst = new Uint8Array(3072);
    cutout().apply(src, dst, scripted(0, 16, 16));
    expect(holes(src, dst)).toHaveLength(16 * 16);
    const p = (16 * 32 + 16) * 3;
    expect([dst[p], dst[p + 1], dst[p + 2]]).toEqual([125, 123, 114]);
    cutout({ probability: 0.5 }).apply(src, dst, scripted(0.5, 16, 16));
    expect([...dst]).toEqual([...src]);
  });

  it("gives the same holes for the same seed", () => {
    const src = new Uint8Array(3072).fill(9);
    const a = new Uint8Array(3072);
    const b = new Uint8Array(3072);
    cutout({ size: 8 }).apply(src, a, new Rng(21));
    cutout({ size: 8 }).apply(src, b, new Rng(21));
    expect([...a]).toEqual([...b]);
    expect(holes(src, a).length).toBeGreaterThan(0);
  });

  it("rejects bad options", () => {
    expect(() => cutout({ size: 0 })).toThrow(
      /cutout size: expected an integer in \[1, 64\], got 0/,
    );
    expect(() => cutout({ fill: 300 })).toThrow(/cutout fill/);
  });
});
