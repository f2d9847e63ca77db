import { CIFAR10_IMAGE_BYTES } from "./constants.js";
import { Cifar10Error } from "./errors.js";

/** Per-channel (R, G, B) statistics over [0, 1] pixels. */
export interface ChannelStats {
  mean: [number, number, number];
  std: [number, number, number];
}

/**
 * Recomputes the per-channel mean and (population) standard deviation of a split's images over
 * [0, 1] pixels: the numbers to normalise with. Sums are exact integers (well under 2^53 for
 * the full train set), so the result does not depend on summation order.
 */
export function channelStats(split: { images: Uint8Array }): ChannelStats {
  const { images } = split;
  if (images.length === 0 || images.length % CIFAR10_IMAGE_BYTES !== 0) {
    throw new Cifar10Error(
      "invalid_images",
      `channelStats: expected a non-empty multiple of ${CIFAR10_IMAGE_BYTES} bytes (N×32×32×3), got ${images.length}`,
    );
  }
  // A histogram per channel keeps the inner loop to one increment per byte.
  const hist = new Float64Array(3 * 256);
  for (let i = 0; i < images.length; i += 3) {
    const r = images[i]!;
    const g = 256 + images[i + 1]!;
    const b = 512 + images[i + 2]!;
    hist[r] = hist[r]! + 1;
    hist[g] = hist[g]! + 1;
    hist[b] = hist[b]! + 1;
  }
  const n = images.length / 3;
  const mean: [number, number, number] = [0, 0, 0];
  const std: [number, number, number] = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    let sum = 0;
    let sumSq = 0;
    for (let v = 0; v < 256; v++) {
      const k = hist[c * 256 + v]!;
      sum += k * v;
      sumSq += k * v * v;
    }
    const m = sum / n;
    mean[c] = m / 255;
    std[c] = Math.sqrt(Math.max(0, sumSq / n - m * m)) / 255;
  }
  return { mean, std };
}
