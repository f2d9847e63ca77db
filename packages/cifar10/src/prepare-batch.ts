// Building one batch on the host: the code the main thread and the worker thread share, so
// both give the same bytes for the same (seed, epoch, step).
import type { Augmentation } from "./augmentation.js";
import { CIFAR10_IMAGE_BYTES } from "./constants.js";
import { Rng } from "./rng.js";

/** A batch prepared on the host, before it becomes tensors. */
export interface HostBatch {
  /** `b×32×32×3` normalised float32 pixels. */
  pixels: Float32Array;
  labels: Uint8Array;
  indices: Int32Array;
  step: number;
}

/** Everything needed to build any batch of any epoch. */
export interface BatchPlan {
  images: Uint8Array;
  labels: Uint8Array;
  length: number;
  batchSize: number;
  shuffle: boolean;
  seed: number;
  /** 3×256 lookup table: channel c, byte v → normalised value. */
  lut: Float32Array;
  augment: Augmentation | null;
}

// Independent RNG streams per purpose, so shuffling never shifts the augmentation draws.
const SHUFFLE_STREAM = 1;
const AUGMENT_STREAM = 2;

/** The order in which epoch `epoch` visits the split: `Rng(seed, 1, epoch)`'s permutation. */
export function epochOrder(plan: BatchPlan, epoch: number): Int32Array {
  const order = new Int32Array(plan.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  if (plan.shuffle) new Rng(plan.seed, SHUFFLE_STREAM, epoch).shuffle(order);
  return order;
}

/**
 * Batch `step` of epoch `epoch`: augmented with `Rng(seed, 2, epoch, step)` and each image's
 * `{ index, epoch, seed }` context, then normalised.
 */
export function prepareHostBatch(
  plan: BatchPlan,
  epoch: number,
  step: number,
  order: Int32Array,
): HostBatch {
  const { batchSize, augment, seed, lut, images } = plan;
  const start = step * batchSize;
  const indices = order.slice(start, Math.min(start + batchSize, order.length));
  const n = indices.length;
  const pixels = new Float32Array(n * CIFAR10_IMAGE_BYTES);
  const labels = new Uint8Array(n);
  const rng = augment ? new Rng(seed, AUGMENT_STREAM, epoch, step) : null;
  const scratch = new Uint8Array(CIFAR10_IMAGE_BYTES);
  for (let i = 0; i < n; i++) {
    const idx = indices[i]!;
    labels[i] = plan.labels[idx]!;
    let src = images.subarray(idx * CIFAR10_IMAGE_BYTES, (idx + 1) * CIFAR10_IMAGE_BYTES);
    if (augment) {
      augment.apply(src, scratch, rng!, { index: idx, epoch, seed });
      src = scratch;
    }
    const o = i * CIFAR10_IMAGE_BYTES;
    for (let p = 0; p < CIFAR10_IMAGE_BYTES; p += 3) {
      pixels[o + p] = lut[src[p]!]!;
      pixels[o + p + 1] = lut[256 + src[p + 1]!]!;
      pixels[o + p + 2] = lut[512 + src[p + 2]!]!;
    }
  }
  return { pixels, labels, indices, step };
}
