import type { Augmentation } from "./augmentation.js";
import { CIFAR10_IMAGE_SIZE as S } from "./constants.js";
import { Cifar10Error } from "./errors.js";

export interface RandomCropOptions {
  /** Pixels added on every side before cropping back to 32×32. Defaults to 4. */
  padding?: number;
  /**
   * `"zero"` pads with black; `"reflect"` mirrors the image without repeating the edge pixel
   * (numpy/torch `reflect`: index -1 reads 1). Defaults to `"zero"`.
   */
  paddingMode?: "zero" | "reflect";
}

/**
 * torchvision's `RandomCrop(32, padding)`: pad, then take a 32×32 window whose top then left
 * offset are drawn uniformly from [0, 2·padding].
 */
export function randomCrop(options: RandomCropOptions = {}): Augmentation {
  const padding = options.padding ?? 4;
  const mode = options.paddingMode ?? "zero";
  if (!Number.isInteger(padding) || padding < 0 || padding > S - 1) {
    throw new Cifar10Error(
      "invalid_option",
      `randomCrop padding: expected an integer in [0, ${S - 1}], got ${padding}`,
    );
  }
  if (mode !== "zero" && mode !== "reflect") {
    throw new Cifar10Error(
      "invalid_option",
      `randomCrop paddingMode: expected "zero" or "reflect", got ${JSON.stringify(mode)}`,
    );
  }
  // Source row/column for each padded coordinate, or -1 for a zero pixel.
  const map = new Int32Array(S + 2 * padding);
  for (let p = 0; p < map.length; p++) {
    let i = p - padding;
    if (i < 0 || i >= S) {
      if (mode === "zero") i = -1;
      else i = i < 0 ? -i : 2 * (S - 1) - i;
    }
    map[p] = i;
  }
  return {
    name: `randomCrop(padding=${padding}, ${mode})`,
    spec: { kind: "randomCrop", padding, paddingMode: mode },
    apply(src, dst, rng) {
      const top = rng.int(2 * padding + 1);
      const left = rng.int(2 * padding + 1);
      // Output columns [x0, x1) read source columns [x0 + shift, x1 + shift): one native copy
      // per row; only the padded margins are done pixel by pixel.
      const shift = left - padding;
      const x0 = Math.max(0, -shift);
      const x1 = Math.min(S, S - shift);
      for (let y = 0; y < S; y++) {
        const sy = map[top + y]!;
        const row = y * S * 3;
        if (sy < 0) {
          dst.fill(0, row, row + S * 3);
          continue;
        }
        const srow = sy * S * 3;
        dst.set(src.subarray(srow + (x0 + shift) * 3, srow + (x1 + shift) * 3), row + x0 * 3);
        for (let x = 0; x < S; x++) {
          if (x === x0) x = x1;
          if (x >= S) break;
          const sx = map[left + x]!;
          const d = row + x * 3;
          if (sx < 0) {
            dst[d] = 0;
            dst[d + 1] = 0;
            dst[d + 2] = 0;
          } else {
            const s = srow + sx * 3;
            dst[d] = src[s]!;
            dst[d + 1] = src[s + 1]!;
            dst[d + 2] = src[s + 2]!;
          }
        }
      }
    },
  };
}
