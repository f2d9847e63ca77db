// airbench's alternating flip: each image mirrored in every other epoch, starting from a coin.
import type { Augmentation } from "./augmentation.js";
import { Cifar10Error } from "./errors.js";
import { mirror } from "./horizontal-flip.js";
import { Rng } from "./rng.js";

// Rng streams 1 and 2 are the batches' shuffle and augmentation (prepare-batch.ts); the coins
// get their own, keyed by image rather than by epoch and step.
const COIN_STREAM = 3;

/**
 * Image `index`'s coin for `seed`: whether `alternatingFlip` mirrors it in epoch 0
 * (`new Rng(seed, 3, index).next() < 0.5`).
 */
export function flipCoin(seed: number, index: number): boolean {
  return new Rng(seed, COIN_STREAM, index).next() < 0.5;
}

/**
 * The alternating flip of airbench (Keller Jordan, arXiv 2404.00498): in epoch 0 each image is
 * mirrored on a seeded per-image coin (probability 1/2); in epoch e it is mirrored iff
 * `coin XOR (e is odd)`. Any two consecutive epochs show every image once each way, which
 * beats independent random flips on short schedules.
 *
 * It reads the image's `{ index, epoch, seed }` from the `AugmentationContext` that
 * `Cifar10Batches` passes (or `augmentImages(…, context)`), never the `rng`, so it shifts no
 * other augmentation's draws. The same seed gives the same coins on any thread and after a resume.
 */
export function alternatingFlip(): Augmentation {
  return {
    name: "alternatingFlip",
    spec: { kind: "alternatingFlip" },
    apply(src, dst, _rng, context) {
      if (!context) {
        throw new Cifar10Error(
          "invalid_option",
          "alternatingFlip: expected the image's { index, epoch, seed } context, got none (use it through Cifar10Batches, or pass augmentImages a context)",
        );
      }
      // A coin is one small Rng seeding (~0.3 µs): not worth caching next to a 3,072-byte copy.
      if (flipCoin(context.seed, context.index) !== (context.epoch % 2 === 1)) mirror(src, dst);
      else dst.set(src);
    },
  };
}
