import { describe, expect, it } from "vitest";
import {
  type Augmentation,
  augmentImages,
  compose,
  cutout,
  horizontalFlip,
  Rng,
  randomCrop,
} from "./index.js";

const addOne: Augmentation = {
  name: "addOne",
  apply(src, dst) {
    for (let i = 0; i < src.length; i++) dst[i] = src[i]! + 1;
  },
};
const double: Augmentation = {
  name: "double",
  apply(src, dst) {
    for (let i = 0; i < src.length; i++) dst[i] = src[i]! * 2;
  },
};

describe("compose", () => {
  it("applies augmentations left to right without clobbering its input", () => {
    const src = new Uint8Array(3072).fill(3);
    const dst = new Uint8Array(3072);
    const aug = compose([addOne, double, addOne]);
    expect(aug.name).toBe("compose(addOne, double, addOne)");
    aug.apply(src, dst, new Rng(0));
    expect(dst.every((v) => v === 9)).toBe(true);
    expect(src.every((v) => v === 3)).toBe(true);
    compose([]).apply(src, dst, new Rng(0));
    expect(dst.every((v) => v === 3)).toBe(true);
  });
});

describe("augmentImages", () => {
  it("gives the same pixels for the same seed and different ones for another", () => {
    const images = new Uint8Array(8 * 3072);
    for (let i = 0; i < images.length; i++) images[i] = (i * 7) % 256;
    const aug = compose([
      randomCrop({ paddingMode: "reflect" }),
      horizontalFlip(),
      cutout({ size: 8 }),
    ]);
    const a = augmentImages(images, aug, new Rng(5));
    const b = augmentImages(images, aug, new Rng(5));
    const c = augmentImages(images, aug, new Rng(6));
    expect([...a]).toEqual([...b]);
    expect([...a]).not.toEqual([...c]);
    expect([...a]).not.toEqual([...images]);
  });

  it("rejects a batch that is not N×3072 bytes or an output aliasing the input", () => {
    expect(() => augmentImages(new Uint8Array(100), addOne, new Rng(0))).toThrow(
      /expected a multiple of 3072 bytes \(N×32×32×3\), got 100/,
    );
    const images = new Uint8Array(3072);
    expect(() => augmentImages(images, addOne, new Rng(0), images)).toThrow(
      /sharing the input's buffer/,
    );
  });
});
