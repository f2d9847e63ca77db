// Getting CIFAR-10 for a run: where it comes from (flags, env, cache), the one-line message when
// it cannot be downloaded, class-balanced subsets, and the batch iterators the loop drives.
import { basename, join } from "node:path";
import {
  type Augmentation,
  alternatingFlip,
  CIFAR10_IMAGE_BYTES,
  CIFAR10_MEAN,
  CIFAR10_STD,
  type Cifar10,
  Cifar10Batches,
  Cifar10Error,
  type Cifar10ErrorCode,
  type Cifar10Split,
  cutout,
  horizontalFlip,
  loadCifar10,
  type NormalizeStats,
  Rng,
  randomCrop,
} from "@cnnkit/cifar10";
import type { TrainConfig } from "./config.js";
import { TrainerError } from "./errors.js";

/** The splits a run uses (subsets applied) and the class names. */
export interface RunData {
  train: Cifar10Split;
  test: Cifar10Split;
  classNames: string[];
}

const OFFLINE_CODES = new Set<Cifar10ErrorCode>(["network", "http_status", "download_incomplete"]);

export const OFFLINE_MESSAGE =
  "Point at a local copy with --data-dir DIR (a folder holding cifar-10-binary.tar.gz or " +
  "cifar-10-batches-bin/, or the archive itself), --data-url URL (a mirror: http(s)://, file:// " +
  "or a path), or the CNNKIT_DATA_DIR environment variable.";

/**
 * Loads CIFAR-10 as the config says: `dataDir` is the archive or extracted folder itself, or the
 * cache folder to read (or download) it in; `dataUrl` a mirror. Without either, `@cnnkit/cifar10`
 * uses `$CNNKIT_DATA_DIR`/`$CNNKIT_CIFAR10_URL`, then `~/.cache/cnnkit` and the official URL.
 */
export async function loadDataset(
  config: Pick<TrainConfig, "dataDir" | "dataUrl">,
): Promise<Cifar10> {
  const { dataDir, dataUrl } = config;
  const isDataset =
    dataDir !== null &&
    (/\.(tar\.gz|tgz)$/i.test(dataDir) ||
      /^cifar-10-batches-(bin|py)$/.test(basename(dataDir.replace(/[\\/]+$/, ""))));
  try {
    return await loadCifar10({
      ...(isDataset ? { path: dataDir } : dataDir ? { cacheDir: dataDir } : {}),
      ...(dataUrl ? { url: dataUrl } : {}),
    });
  } catch (error) {
    if (Cifar10Error.isInstance(error) && OFFLINE_CODES.has(error.code)) {
      const why = error.message.split("\n")[0];
      throw new TrainerError(
        "data_unavailable",
        `CIFAR-10 could not be downloaded (${why}). ${OFFLINE_MESSAGE}`,
        {
          cause: error,
        },
      );
    }
    if (Cifar10Error.isInstance(error) && error.code === "cache_unwritable" && dataDir) {
      // The package's advice in the CLI's words.
      const why = error.message.replace(/; give a writable cacheDir.*$/, "");
      throw new TrainerError(
        "data_invalid",
        `CIFAR-10: ${why}; give the archive itself (--data-dir ${join(dataDir, "cifar-10-binary.tar.gz")}) or a writable --data-dir`,
        { cause: error },
      );
    }
    if (Cifar10Error.isInstance(error)) {
      throw new TrainerError("data_invalid", `CIFAR-10: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** Copies the images and labels at `indices` into a new split. */
export function pickSplit(split: Cifar10Split, indices: ArrayLike<number>): Cifar10Split {
  const n = indices.length;
  const images = new Uint8Array(n * CIFAR10_IMAGE_BYTES);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const idx = indices[i]!;
    images.set(
      split.images.subarray(idx * CIFAR10_IMAGE_BYTES, (idx + 1) * CIFAR10_IMAGE_BYTES),
      i * CIFAR10_IMAGE_BYTES,
    );
    labels[i] = split.labels[idx]!;
  }
  return { images, labels, length: n };
}

/**
 * `n` images with every class equally represented (±1), drawn in a seeded shuffled order: a
 * subset of the first N images can miss classes' worth of examples, and accuracy on a small
 * subset is only comparable across runs when the class mix is the same.
 */
export function balancedSubset(
  split: Cifar10Split,
  n: number,
  seed: number,
  numClasses = 10,
): Cifar10Split {
  if (n >= split.length) return split;
  const order = new Int32Array(split.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  // Stream 7: independent of the batch iterator's shuffle and augmentation streams.
  new Rng(seed, 7).shuffle(order);
  const quota = Array.from(
    { length: numClasses },
    (_, c) => Math.floor(n / numClasses) + (c < n % numClasses ? 1 : 0),
  );
  const picked: number[] = [];
  for (const idx of order) {
    const label = split.labels[idx]!;
    if (quota[label]! > 0) {
      quota[label]!--;
      picked.push(idx);
      if (picked.length === n) break;
    }
  }
  // A split short of some class (tiny test data) is topped up in shuffled order.
  const taken = new Set(picked);
  for (const idx of order) {
    if (picked.length === n) break;
    if (!taken.has(idx)) picked.push(idx);
  }
  picked.sort((a, b) => a - b);
  return pickSplit(split, picked);
}

/** Applies the config's subsets: a balanced training subset, the first N test images. */
export function selectRunData(
  data: Cifar10,
  config: Pick<TrainConfig, "trainSubset" | "testSubset" | "seed">,
): RunData {
  const train =
    config.trainSubset === null
      ? data.train
      : balancedSubset(data.train, config.trainSubset, config.seed);
  const test =
    config.testSubset === null || config.testSubset >= data.test.length
      ? data.test
      : pickSplit(
          data.test,
          Array.from({ length: config.testSubset }, (_, i) => i),
        );
  return { train, test, classNames: [...data.classNames] };
}

export function normalizeStats(config: Pick<TrainConfig, "normalize">): NormalizeStats | false {
  return config.normalize === "cifar10" ? { mean: CIFAR10_MEAN, std: CIFAR10_STD } : false;
}

export function augmentations(config: Pick<TrainConfig, "augment">): Augmentation[] {
  const a = config.augment;
  const list: Augmentation[] = [];
  if (a.crop) list.push(randomCrop({ padding: a.padding, paddingMode: a.paddingMode }));
  if (a.flip) list.push(a.alternateFlip ? alternatingFlip() : horizontalFlip());
  if (a.cutout > 0) list.push(cutout({ size: a.cutout }));
  return list;
}

/** The training iterator: seeded shuffle + augmentation, so any batch can be rebuilt on resume. */
export function trainBatches(split: Cifar10Split, config: TrainConfig): Cifar10Batches {
  return new Cifar10Batches(split, {
    batchSize: config.batchSize,
    shuffle: true,
    seed: config.seed,
    augment: augmentations(config),
    normalize: normalizeStats(config),
  });
}

/** The evaluation iterator: in order, no augmentation, same normalisation as training. */
export function testBatches(
  split: Cifar10Split,
  config: Pick<TrainConfig, "normalize" | "batchSize">,
): Cifar10Batches {
  return new Cifar10Batches(split, {
    // Inference keeps no activations for backprop, so a larger batch costs little memory.
    batchSize: Math.max(config.batchSize, 256),
    shuffle: false,
    augment: null,
    normalize: normalizeStats(config),
  });
}
