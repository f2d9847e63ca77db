import { describe, expect, it } from "vitest";
import { flipCoin } from "./alternating-flip.js";
import {
  alternatingFlip,
  augmentationFromSpec,
  augmentImages,
  Cifar10Error,
  compose,
  Rng,
  randomCrop,
} from "./index.js";

const at = (img: Uint8Array, y: number, x: number, c: number) => img[(y * 32 + x) * 3 + c];

/** Image i: pixel (y, x, c) = i*7 + x*5 + y + c, so a mirrored copy differs from the original. */
function images(n: number): Uint8Array {
  const out = new Uint8Array(n * 3072);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++)
        for (let c = 0; c < 3; c++) out[i * 3072 + (y * 32 + x) * 3 + c] = i * 7 + x * 5 + y + c;
  return out;
}

/** Whether each image of `out` is the mirror of the same image of `src`; it must be that or equal. */
function mirrored(src: Uint8Array, out: Uint8Array): boolean[] {
  return Array.from({ length: src.length / 3072 }, (_, i) => {
    const a = src.subarray(i * 3072, (i + 1) * 3072);
    const b = out.subarray(i * 3072, (i + 1) * 3072);
    let same = true;
    let mirror = true;
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++)
        for (let c = 0; c < 3; c++) {
          same &&= at(b, y, x, c) === at(a, y, x, c);
          mirror &&= at(b, y, x, c) === at(a, y, 31 - x, c);
        }
    expect({ image: i, same, mirror }).not.toEqual({ image: i, same: false, mirror: false });
    return mirror;
  });
}

/** An Rng that fails the test if drawn from. */
const untouchable = new Proxy({} as Rng, {
  get() {
    throw new Error("alternatingFlip drew from the rng");
  },
});

describe("alternatingFlip", () => {
  it("flips on a per-image coin in epoch 0, the opposite in odd epochs, the same in even ones", () => {
    const n = 400;
    const src = images(n);
    const flip = alternatingFlip();
    const epoch = (e: number, seed = 3) =>
      mirrored(src, augmentImages(src, flip, untouchable, undefined, { epoch: e, seed }));
    const e0 = epoch(0);
    expect(e0).toEqual(Array.from({ length: n }, (_, i) => flipCoin(3, i)));
    const flipped = e0.filter(Boolean).length;
    expect(flipped).toBeGreaterThan(160);
    expect(flipped).toBeLessThan(240);
    expect(epoch(1)).toEqual(e0.map((f) => !f));
    expect(epoch(2)).toEqual(e0);
    expect(epoch(7)).toEqual(e0.map((f) => !f));
    // Same seed, same coins; another seed, other coins.
    expect(epoch(0, 3)).toEqual(e0);
    expect(epoch(0, 4)).not.toEqual(e0);
  });

  it("keys the coin by the image's split index, not its position", () => {
    const src = images(20);
    const flip = alternatingFlip();
    const all = mirrored(
      src,
      augmentImages(src, flip, untouchable, undefined, { epoch: 0, seed: 1 }),
    );
    const tail = src.slice(12 * 3072);
    const context = { epoch: 0, seed: 1, firstIndex: 12 };
    expect(mirrored(tail, augmentImages(tail, flip, untouchable, undefined, context))).toEqual(
      all.slice(12),
    );
  });

  it("is rebuilt from its spec and passes through compose with its context", () => {
    const src = images(50);
    const context = { epoch: 1, seed: 9 };
    const direct = augmentImages(src, alternatingFlip(), untouchable, undefined, context);
    const spec = compose([alternatingFlip(), randomCrop({ padding: 0 })]).spec!;
    expect(spec).toEqual({
      kind: "compose",
      items: [{ kind: "alternatingFlip" }, { kind: "randomCrop", padding: 0, paddingMode: "zero" }],
    });
    const rebuilt = augmentImages(src, augmentationFromSpec(spec), new Rng(0), undefined, context);
    expect(rebuilt).toEqual(direct);
  });

  it("refuses to guess without the image's context", () => {
    const src = images(1);
    expect(() => alternatingFlip().apply(src, new Uint8Array(3072), new Rng(0))).toThrow(
      Cifar10Error,
    );
    expect(() => augmentImages(src, alternatingFlip(), new Rng(0))).toThrow(
      /alternatingFlip: expected the image's \{ index, epoch, seed \} context, got none/,
    );
    expect(() =>
      augmentImages(src, alternatingFlip(), new Rng(0), undefined, { epoch: -1, seed: 0 }),
    ).toThrow("augmentImages context.epoch: expected a non-negative integer, got -1");
  });
});
