import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Cifar10Error, Rng, randomCrop } from "./index.js";

/** PyTorch's F.pad(x, (2, 2, 2, 2), mode="reflect") of a known image (scripts/gen-reflect-pad.py). */
const torchReflect2 = JSON.parse(
  readFileSync(new URL("./__fixtures__/reflect-pad-2.json", import.meta.url), "utf8"),
) as { image: number[]; padded: number[] };

/** An image whose pixel (y, x, c) is y*8 + x + c*... within a byte, easy to reason about. */
function gradient(): Uint8Array {
  const img = new Uint8Array(3072);
  for (let y = 0; y < 32; y++)
    for (let x = 0; x < 32; x++)
      for (let c = 0; c < 3; c++) img[(y * 32 + x) * 3 + c] = 1 + y * 4 + ((x + c) % 4);
  return img;
}
const at = (img: Uint8Array, y: number, x: number, c: number) => img[(y * 32 + x) * 3 + c];

/** An Rng stand-in that returns scripted integers, to pin the crop offsets. */
function scripted(...ints: number[]): Rng {
  return { int: () => ints.shift()!, next: () => 0 } as unknown as Rng;
}

describe("randomCrop", () => {
  it("with zero padding, shifts the image and fills the border with black", () => {
    const src = gradient();
    const dst = new Uint8Array(3072);
    // top = 0, left = 8 with padding 4: output (y, x) reads source (y − 4, x + 4).
    randomCrop().apply(src, dst, scripted(0, 8));
    expect(at(dst, 0, 0, 0)).toBe(0); // from padded row −4
    expect(at(dst, 3, 31, 2)).toBe(0);
    expect(at(dst, 4, 0, 0)).toBe(at(src, 0, 4, 0));
    expect(at(dst, 10, 5, 1)).toBe(at(src, 6, 9, 1));
    expect(at(dst, 31, 27, 2)).toBe(at(src, 27, 31, 2));
    expect(at(dst, 31, 28, 0)).toBe(0); // past the right edge
    expect(dst.subarray(0, 4 * 32 * 3).every((v) => v === 0)).toBe(true);
  });

  it("with top = left = padding, returns the image unchanged", () => {
    const src = gradient();
    const dst = new Uint8Array(3072);
    randomCrop({ padding: 2 }).apply(src, dst, scripted(2, 2));
    expect([...dst]).toEqual([...src]);
  });

  it("with reflect padding, mirrors without repeating the edge pixel", () => {
    const src = gradient();
    const dst = new Uint8Array(3072);
    // top = 0, left = 0, padding 4: output (y, x) reads padded (y, x) = source (y − 4, x − 4),
    // reflected: −4 → 4, −1 → 1.
    randomCrop({ padding: 4, paddingMode: "reflect" }).apply(src, dst, scripted(0, 0));
    expect(at(dst, 0, 0, 0)).toBe(at(src, 4, 4, 0));
    expect(at(dst, 3, 3, 1)).toBe(at(src, 1, 1, 1));
    expect(at(dst, 4, 4, 2)).toBe(at(src, 0, 0, 2));
    expect(at(dst, 2, 10, 0)).toBe(at(src, 2, 6, 0));
    // And at the far edge: top = left = 8, output (31, 31) reads source (35, 35) → 2·31 − 35 = 27.
    randomCrop({ padding: 4, paddingMode: "reflect" }).apply(src, dst, scripted(8, 8));
    expect(at(dst, 31, 31, 0)).toBe(at(src, 27, 27, 0));
    expect(at(dst, 27, 27, 1)).toBe(at(src, 31, 31, 1));
  });

  it("translates by 2 with reflect padding exactly as airbench: F.pad(reflect) then a 32×32 window", () => {
    // A known image: channel 0 holds the row, channel 1 the column, channel 2 a constant, so
    // each output pixel says which source pixel it came from.
    const src = new Uint8Array(3072);
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++) src.set([y, x, 200], (y * 32 + x) * 3);
    const dst = new Uint8Array(3072);
    const crop = randomCrop({ padding: 2, paddingMode: "reflect" });
    const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
    // Reflect does not repeat the edge pixel: padded index −1 reads 1, −2 reads 2, 32 reads 30
    // (symmetric padding would read 0, 1 and 31).
    const sources = {
      0: [2, 1, ...range(0, 30)],
      2: range(0, 32),
      4: [...range(2, 32), 30, 29],
    } as const;
    for (const top of [0, 2, 4] as const) {
      for (const left of [0, 2, 4] as const) {
        crop.apply(src, dst, scripted(top, left));
        const rows = Array.from({ length: 32 }, (_, y) => at(dst, y, 0, 0));
        const cols = Array.from({ length: 32 }, (_, x) => at(dst, 0, x, 1));
        expect(rows).toEqual(sources[top]);
        expect(cols).toEqual(sources[left]);
        const want = new Uint8Array(3072);
        for (let y = 0; y < 32; y++)
          for (let x = 0; x < 32; x++)
            want.set([sources[top][y]!, sources[left][x]!, 200], (y * 32 + x) * 3);
        expect(dst).toEqual(want);
      }
    }
  });

  it("matches PyTorch's reflect padding pixel for pixel, for all 25 offsets of padding 2", () => {
    const src = Uint8Array.from(torchReflect2.image);
    const padded = torchReflect2.padded;
    expect(src.length).toBe(3072);
    expect(padded.length).toBe(36 * 36 * 3);
    const dst = new Uint8Array(3072);
    const crop = randomCrop({ padding: 2, paddingMode: "reflect" });
    for (let top = 0; top <= 4; top++) {
      for (let left = 0; left <= 4; left++) {
        crop.apply(src, dst, scripted(top, left));
        const window = new Uint8Array(3072);
        for (let y = 0; y < 32; y++) {
          const from = ((top + y) * 36 + left) * 3;
          window.set(padded.slice(from, from + 32 * 3), y * 32 * 3);
        }
        expect({ top, left, pixels: dst }).toEqual({ top, left, pixels: window });
      }
    }
  });

  it("draws top then left from [0, 2·padding], reproducibly for a seed", () => {
    const src = gradient();
    const a = new Uint8Array(3072);
    const b = new Uint8Array(3072);
    randomCrop().apply(src, a, new Rng(11));
    randomCrop().apply(src, b, new Rng(11));
    expect([...a]).toEqual([...b]);
    const offsets = new Set<string>();
    const rng = new Rng(1);
    const seen = {
      int: (n: number) => {
        expect(n).toBe(9);
        return rng.int(n);
      },
      next: () => rng.next(),
    } as unknown as Rng;
    for (let i = 0; i < 400; i++) {
      randomCrop().apply(src, a, seen);
      // Recover the offsets from where the source's first pixel landed.
      offsets.add(String(a.indexOf(src[0]!)));
    }
    expect(offsets.size).toBeGreaterThan(20);
  });

  it.each(["zero", "reflect"] as const)(
    "matches a naive pad-then-crop for every offset (%s)",
    (mode) => {
      const src = gradient();
      const dst = new Uint8Array(3072);
      const p = 4;
      const padded = (y: number, x: number, c: number) => {
        let sy = y - p;
        let sx = x - p;
        if (mode === "zero")
          return sy < 0 || sy > 31 || sx < 0 || sx > 31 ? 0 : at(src, sy, sx, c)!;
        sy = sy < 0 ? -sy : sy > 31 ? 62 - sy : sy;
        sx = sx < 0 ? -sx : sx > 31 ? 62 - sx : sx;
        return at(src, sy, sx, c)!;
      };
      let mismatches = 0;
      for (let top = 0; top <= 2 * p; top++) {
        for (let left = 0; left <= 2 * p; left++) {
          randomCrop({ padding: p, paddingMode: mode }).apply(src, dst, scripted(top, left));
          for (let y = 0; y < 32; y++)
            for (let x = 0; x < 32; x++)
              for (let c = 0; c < 3; c++)
                if (at(dst, y, x, c) !== padded(top + y, left + x, c)) mismatches++;
        }
      }
      expect(mismatches).toBe(0);
    },
  );

  it("rejects bad options", () => {
    expect(() => randomCrop({ padding: -1 })).toThrow(
      /padding: expected an integer in \[0, 31\], got -1/,
    );
    expect(() => randomCrop({ paddingMode: "edge" as never })).toThrow(Cifar10Error);
  });
});
