// The contract every augmentation follows, composition, and the batch helper that drives them.
import { CIFAR10_IMAGE_BYTES } from "./constants.js";
import { Cifar10Error } from "./errors.js";
import type { Rng } from "./rng.js";

/**
 * Where an image is in a run. Most augmentations ignore it; those whose choice for an image
 * depends on the image and the epoch rather than on a fresh draw (`alternatingFlip`) need it.
 */
export interface AugmentationContext {
  /** The image's index in its split (not its position in the batch). */
  readonly index: number;
  /** The epoch, from 0. */
  readonly epoch: number;
  /** The run's seed (`Cifar10Batches`' `seed`). */
  readonly seed: number;
}

/**
 * One seeded image transform on a 32×32×3 HWC RGB `Uint8Array`.
 * Everything random comes from `rng` (and, for the few that use it, from `context`), so the
 * same rng state and context give the same pixels.
 */
export interface Augmentation {
  /** A short human-readable description, e.g. `randomCrop(padding=4, zero)`. */
  readonly name: string;
  /**
   * Writes the transformed `src` into `dst`; both hold 3,072 bytes and never alias.
   * `Cifar10Batches` always passes `context`; `augmentImages` passes it when given one.
   */
  apply(src: Uint8Array, dst: Uint8Array, rng: Rng, context?: AugmentationContext): void;
  /**
   * Plain data that rebuilds this augmentation in a worker thread; the built-in ones have it.
   * Without it, `Cifar10Batches` prepares batches on the main thread.
   */
  readonly spec?: AugmentationSpec;
}

/** The serialisable description of a built-in augmentation. */
export type AugmentationSpec =
  | { kind: "randomCrop"; padding: number; paddingMode: "zero" | "reflect" }
  | { kind: "horizontalFlip"; probability: number }
  | { kind: "alternatingFlip" }
  | { kind: "cutout"; size: number; probability: number; fill: [number, number, number] }
  | { kind: "compose"; items: AugmentationSpec[] };

/** Runs augmentations left to right, as one augmentation (torchvision's `Compose`). */
export function compose(augmentations: readonly Augmentation[]): Augmentation {
  const list = [...augmentations];
  // Ping-pong between two scratch buffers so no step writes over the image it is reading.
  const scratch = [new Uint8Array(CIFAR10_IMAGE_BYTES), new Uint8Array(CIFAR10_IMAGE_BYTES)];
  const specs = list.map((a) => a.spec);
  return {
    name: `compose(${list.map((a) => a.name).join(", ")})`,
    spec: specs.every((x) => x !== undefined) ? { kind: "compose", items: specs } : undefined,
    apply(src, dst, rng, context) {
      if (list.length === 0) {
        dst.set(src);
        return;
      }
      let from = src;
      for (let i = 0; i < list.length; i++) {
        const to = i === list.length - 1 ? dst : scratch[i % 2]!;
        list[i]!.apply(from, to, rng, context);
        from = to;
      }
    },
  };
}

/** Where the images given to `augmentImages` sit in a run. */
export interface AugmentImagesContext {
  /** The epoch, from 0. */
  epoch: number;
  /** The run's seed. */
  seed: number;
  /** Split index of the first image; image k gets `firstIndex + k`. Defaults to 0. */
  firstIndex?: number;
}

/**
 * Augments every image of `images` (N×32×32×3) with `augmentation`, drawing from `rng` in image
 * order, and returns the augmented copy (written into `out` when given). With `context`, image k
 * is augmented as image `firstIndex + k` of epoch `epoch` (what `alternatingFlip` needs).
 */
export function augmentImages(
  images: Uint8Array,
  augmentation: Augmentation,
  rng: Rng,
  out: Uint8Array = new Uint8Array(images.length),
  context?: AugmentImagesContext,
): Uint8Array {
  if (images.length % CIFAR10_IMAGE_BYTES !== 0) {
    throw new Cifar10Error(
      "invalid_images",
      `augmentImages: expected a multiple of ${CIFAR10_IMAGE_BYTES} bytes (N×32×32×3), got ${images.length}`,
    );
  }
  if (out.length !== images.length || out.buffer === images.buffer) {
    throw new Cifar10Error(
      "invalid_images",
      `augmentImages: expected out to be a separate buffer of ${images.length} bytes, got ${out.length} bytes${out.buffer === images.buffer ? " sharing the input's buffer" : ""}`,
    );
  }
  const first = context?.firstIndex ?? 0;
  if (context) {
    for (const [what, v] of [
      ["epoch", context.epoch],
      ["seed", context.seed],
      ["firstIndex", first],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new Cifar10Error(
          "invalid_option",
          `augmentImages context.${what}: expected a non-negative integer, got ${v}`,
        );
      }
    }
  }
  for (let o = 0; o < images.length; o += CIFAR10_IMAGE_BYTES) {
    augmentation.apply(
      images.subarray(o, o + CIFAR10_IMAGE_BYTES),
      out.subarray(o, o + CIFAR10_IMAGE_BYTES),
      rng,
      context && {
        index: first + o / CIFAR10_IMAGE_BYTES,
        epoch: context.epoch,
        seed: context.seed,
      },
    );
  }
  return out;
}

export function checkProbability(value: number, what: string): number {
  if (!(typeof value === "number" && value >= 0 && value <= 1)) {
    throw new Cifar10Error("invalid_option", `${what}: expected a number in [0, 1], got ${value}`);
  }
  return value;
}
