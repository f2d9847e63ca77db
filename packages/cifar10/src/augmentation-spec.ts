// Rebuilding built-in augmentations from their plain-data specs (in a worker thread).
import { alternatingFlip } from "./alternating-flip.js";
import { type Augmentation, type AugmentationSpec, compose } from "./augmentation.js";
import { cutout } from "./cutout.js";
import { Cifar10Error } from "./errors.js";
import { horizontalFlip } from "./horizontal-flip.js";
import { randomCrop } from "./random-crop.js";

/** The augmentation a spec describes; the inverse of `Augmentation.spec`. */
export function augmentationFromSpec(spec: AugmentationSpec): Augmentation {
  switch (spec.kind) {
    case "randomCrop":
      return randomCrop({ padding: spec.padding, paddingMode: spec.paddingMode });
    case "horizontalFlip":
      return horizontalFlip({ probability: spec.probability });
    case "alternatingFlip":
      return alternatingFlip();
    case "cutout":
      return cutout({ size: spec.size, probability: spec.probability, fill: spec.fill });
    case "compose":
      return compose(spec.items.map(augmentationFromSpec));
    default:
      throw new Cifar10Error(
        "invalid_option",
        `augmentation spec: expected kind randomCrop, horizontalFlip, alternatingFlip, cutout or compose, got ${JSON.stringify((spec as { kind?: unknown }).kind)}`,
      );
  }
}
