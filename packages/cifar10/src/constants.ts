// The facts of CIFAR-10 that every other module checks against: layout, names, checksums, stats.

/** Image side in pixels. */
export const CIFAR10_IMAGE_SIZE = 32;
/** Colour channels per pixel (RGB). */
export const CIFAR10_CHANNELS = 3;
/** Bytes of one image: 32 × 32 × 3. */
export const CIFAR10_IMAGE_BYTES = 32 * 32 * 3;
/** Bytes of one record of a `.bin` batch: one label byte, then the red, green and blue planes. */
export const CIFAR10_RECORD_BYTES = 1 + CIFAR10_IMAGE_BYTES;
/** Records in each official batch file. */
export const CIFAR10_RECORDS_PER_BATCH = 10_000;

/** The class names in label order (`batches.meta.txt`). */
export const CIFAR10_CLASS_NAMES: readonly string[] = Object.freeze([
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
]);

/**
 * Per-channel mean of the official training set over [0, 1] pixels (R, G, B).
 * `channelStats(train)` recomputes it; these are the values it gives to 4 decimals.
 */
export const CIFAR10_MEAN: readonly [number, number, number] = Object.freeze([
  0.4914, 0.4822, 0.4465,
]) as readonly [number, number, number];

/**
 * Per-channel standard deviation of the official training set over [0, 1] pixels (R, G, B),
 * taken over all pixels (not the mean of per-image stds, which gives the often-copied
 * 0.2023/0.1994/0.2010).
 */
export const CIFAR10_STD: readonly [number, number, number] = Object.freeze([
  0.247, 0.2435, 0.2616,
]) as readonly [number, number, number];

/** The official download location of the binary version. */
export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/** MD5 of the official binary archive; checked only when the archive comes from the official URL. */
export const CIFAR10_ARCHIVE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
/** File name the archive is cached under. */
export const CIFAR10_ARCHIVE_NAME = "cifar-10-binary.tar.gz";

/** Folder the binary archive unpacks to. */
export const BIN_FOLDER = "cifar-10-batches-bin";
/** Folder of the Python (pickled) version, as torchvision downloads it. */
export const PY_FOLDER = "cifar-10-batches-py";

export const TRAIN_BATCHES = [
  "data_batch_1",
  "data_batch_2",
  "data_batch_3",
  "data_batch_4",
  "data_batch_5",
] as const;
export const TEST_BATCH = "test_batch";

/** Official MD5 of each file of `cifar-10-batches-bin/`. */
export const BIN_MD5: Readonly<Record<string, string>> = Object.freeze({
  "data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25",
  "data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
  "data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421",
  "data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
  "data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d",
  "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d",
});

/** Official MD5 of each pickled file of `cifar-10-batches-py/` (the values torchvision checks). */
export const PY_MD5: Readonly<Record<string, string>> = Object.freeze({
  data_batch_1: "c99cafc152244af753f735de768cd75f",
  data_batch_2: "d4bba439e000b95fd0a9bffe97cbabec",
  data_batch_3: "54ebc095f3ab1f0389bbae665268c751",
  data_batch_4: "634d18415352ddfa80567beed471001a",
  data_batch_5: "482c414d41f54cd18b22e5b47cb7c3cb",
  test_batch: "40351d587109b95175f43aff81a1287e",
  "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
});
