import { type Augmentation, checkProbability } from "./augmentation.js";
import { CIFAR10_MEAN, CIFAR10_IMAGE_SIZE as S } from "./constants.js";
import { Cifar10Error } from "./errors.js";

export interface CutoutOptions {
  /** Side of the square hole in pixels. Defaults to 16 (DeVries & Taylor's CIFAR-10 value). */
  size?: number;
  /** Chance of cutting a hole in an image. Defaults to 1. */
  probability?: number;
  /**
   * Colour of the hole: one grey level, an `[r, g, b]` triple, or `"mean"` for the CIFAR-10
   * mean pixel (125, 123, 114), which normalises to ~0, as in the original code that masked
   * after normalising. Defaults to `"mean"`.
   */
  fill?: number | readonly [number, number, number] | "mean";
}

/**
 * Cutout (DeVries & Taylor, 2017): a `size`×`size` square centred on a uniformly drawn pixel
 * (centre row, then column), clipped at the borders, is filled with `fill`.
 */
export function cutout(options: CutoutOptions = {}): Augmentation {
  const size = options.size ?? 16;
  const p = checkProbability(options.probability ?? 1, "cutout probability");
  if (!Number.isInteger(size) || size < 1 || size > 2 * S) {
    throw new Cifar10Error(
      "invalid_option",
      `cutout size: expected an integer in [1, ${2 * S}], got ${size}`,
    );
  }
  const fillOption = options.fill ?? "mean";
  const fill: number[] =
    fillOption === "mean"
      ? CIFAR10_MEAN.map((m) => Math.round(m * 255))
      : typeof fillOption === "number"
        ? [fillOption, fillOption, fillOption]
        : [...fillOption];
  if (fill.length !== 3 || !fill.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    throw new Cifar10Error(
      "invalid_option",
      `cutout fill: expected "mean", an integer in [0, 255] or three of them, got ${JSON.stringify(fillOption)}`,
    );
  }
  const [fr, fg, fb] = fill as [number, number, number];
  const half = Math.floor(size / 2);
  return {
    name: `cutout(size=${size}, p=${p})`,
    spec: { kind: "cutout", size, probability: p, fill: [fr, fg, fb] },
    apply(src, dst, rng) {
      dst.set(src);
      if (!(rng.next() < p)) return;
      const cy = rng.int(S);
      const cx = rng.int(S);
      const y0 = Math.max(0, cy - half);
      const y1 = Math.min(S, cy - half + size);
      const x0 = Math.max(0, cx - half);
      const x1 = Math.min(S, cx - half + size);
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const d = (y * S + x) * 3;
          dst[d] = fr;
          dst[d + 1] = fg;
          dst[d + 2] = fb;
        }
      }
    },
  };
}
