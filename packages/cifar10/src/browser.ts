// The entry a browser bundle gets (the "browser" export condition): everything but
// loadCifar10, which downloads, verifies and caches the archive with Node's file system. A page
// fetches the .bin batch files itself and hands their bytes to parseCifar10Split. index.ts
// re-exports all of it and adds loadCifar10.
export { alternatingFlip } from "./alternating-flip.js";
export {
  type Augmentation,
  type AugmentationContext,
  type AugmentationSpec,
  type AugmentImagesContext,
  augmentImages,
  compose,
} from "./augmentation.js";
export { augmentationFromSpec } from "./augmentation-spec.js";
export {
  type Cifar10Batch,
  Cifar10Batches,
  type Cifar10BatchesOptions,
  Cifar10Epoch,
  type EpochOptions,
  type NormalizeStats,
  type ResolvedCifar10BatchesOptions,
} from "./batches.js";
export { type ChannelStats, channelStats } from "./channel-stats.js";
export {
  CIFAR10_ARCHIVE_MD5,
  CIFAR10_CLASS_NAMES,
  CIFAR10_IMAGE_BYTES,
  CIFAR10_IMAGE_SIZE,
  CIFAR10_MEAN,
  CIFAR10_STD,
  CIFAR10_URL,
} from "./constants.js";
export { type CutoutOptions, cutout } from "./cutout.js";
export { denormalize } from "./denormalize.js";
export type { Cifar10ErrorCode } from "./errors.js";
export { Cifar10Error } from "./errors.js";
export { type HorizontalFlipOptions, horizontalFlip } from "./horizontal-flip.js";
export { parseCifar10Split } from "./parse-cifar10.js";
export type { HostBatch } from "./prepare-batch.js";
export { type RandomCropOptions, randomCrop } from "./random-crop.js";
export type { Cifar10, Cifar10Split } from "./read-folder.js";
export { Rng, type RngState } from "./rng.js";
