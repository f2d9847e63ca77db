// The contract every augmentation follows, composition, and the batch helper that drives them.
import { CIFAR10_IMAGE_BYTES } from "./constants.js";
import { Cifar10Error } from "./errors.js";
import type { Rng } from "./rng.js";

/**
 * One seeded image transform on a 32×32×3 HWC RGB `Uint8Array`.
 * Everything random comes from `rng`, so the same rng state gives the same pixels.
 */
export interface Augmentation {
  /** A short human-readable description, e.g. `randomCrop(padding=4, zero)`. */
  readonly name: string;
  /** Writes the transformed `src` into `dst`; both hold 3,072 bytes and never alias. */
  apply(src: Uint8Array, dst: Uint8Array, rng: Rng): void;
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
    apply(src, dst, rng) {
      if (list.length === 0) {
        dst.set(src);
        return;
      }
      let from = src;
      for (let i = 0; i < list.length; i++) {
        const to = i === list.length - 1 ? dst : scratch[i % 2]!;
        list[i]!.apply(from, to, rng);
        from = to;
      }
    },
  };
}

/**
 * Augments every image of `images` (N×32×32×3) with `augmentation`, drawing from `rng` in image
 * order, and returns the augmented copy (written into `out` when given).
 */
export function augmentImages(
  images: Uint8Array,
  augmentation: Augmentation,
  rng: Rng,
  out: Uint8Array = new Uint8Array(images.length),
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
  for (let o = 0; o < images.length; o += CIFAR10_IMAGE_BYTES) {
    augmentation.apply(
      images.subarray(o, o + CIFAR10_IMAGE_BYTES),
      out.subarray(o, o + CIFAR10_IMAGE_BYTES),
      rng,
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
