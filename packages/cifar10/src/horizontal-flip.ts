import { type Augmentation, checkProbability } from "./augmentation.js";
import { CIFAR10_IMAGE_SIZE as S } from "./constants.js";

export interface HorizontalFlipOptions {
  /** Chance of mirroring an image left–right. Defaults to 0.5. */
  probability?: number;
}

/** torchvision's `RandomHorizontalFlip(p)`: one draw per image decides whether to mirror it. */
export function horizontalFlip(options: HorizontalFlipOptions = {}): Augmentation {
  const p = checkProbability(options.probability ?? 0.5, "horizontalFlip probability");
  return {
    name: `horizontalFlip(p=${p})`,
    spec: { kind: "horizontalFlip", probability: p },
    apply(src, dst, rng) {
      if (rng.next() < p) mirror(src, dst);
      else dst.set(src);
    },
  };
}

/** Writes `src` mirrored left–right into `dst` (32×32×3 HWC, channel order kept). */
export function mirror(src: Uint8Array, dst: Uint8Array): void {
  for (let y = 0; y < S; y++) {
    const row = y * S * 3;
    for (let x = 0; x < S; x++) {
      const d = row + x * 3;
      const s = row + (S - 1 - x) * 3;
      dst[d] = src[s]!;
      dst[d + 1] = src[s + 1]!;
      dst[d + 2] = src[s + 2]!;
    }
  }
}
