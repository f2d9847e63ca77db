// "Visualise a batch first": the batch as the model will see it, mapped back to pixels, with
// class names, so wrong normalisation or broken augmentation shows before a run is wasted.
import type { Picture, RgbImage } from "@cnnkit/viz";
import type * as tf from "@tensorflow/tfjs-core";
import type { NormalizeStats } from "./batches.js";
import {
  CIFAR10_CLASS_NAMES,
  CIFAR10_IMAGE_BYTES,
  CIFAR10_MEAN,
  CIFAR10_STD,
} from "./constants.js";
import { denormalize } from "./denormalize.js";
import { Cifar10Error } from "./errors.js";
import { loadViz } from "./load-viz.js";

export interface BatchGridOptions {
  /** Names shown under each image, by label. Defaults to the CIFAR-10 class names. */
  classNames?: readonly string[];
  /**
   * The statistics the batch was normalised with (pass `batches.options.normalize`), or `false`
   * for plain `x/255`. Defaults to `{ mean: CIFAR10_MEAN, std: CIFAR10_STD }`.
   */
  normalize?: NormalizeStats | false;
  /** Show at most this many images. Defaults to 64. */
  maxImages?: number;
  /** Images per row. Defaults to 8. */
  columns?: number;
  /** A title over the grid. Defaults to a line with the batch's per-channel mean and std. */
  title?: string;
}

/** What the grid needs of a batch: its pixels and its labels. */
export interface BatchLike {
  x: tf.Tensor4D;
  labels: Uint8Array | Int32Array | readonly number[];
}

/** Per-channel mean and std of normalised pixels: about 0 and 1 when the stats are right. */
function summarise(pixels: Float32Array): string {
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i]!;
    sum[i % 3]! += v;
    sq[i % 3]! += v * v;
  }
  const n = pixels.length / 3;
  const mean = sum.map((s) => s / n);
  const std = sq.map((s, c) => Math.sqrt(Math.max(0, s / n - mean[c]! ** 2)));
  const f = (a: number[]) => a.map((v) => v.toFixed(2)).join("/");
  return `x mean ${f(mean)}, std ${f(std)} (R/G/B)`;
}

/** Draws the first images of a batch, denormalised, captioned with their class names. */
export async function batchGrid(
  batch: BatchLike,
  options: BatchGridOptions = {},
): Promise<Picture> {
  const { imageGrid } = loadViz("batchGrid");
  const { x } = batch;
  if (x.rank !== 4 || x.shape[1] !== 32 || x.shape[2] !== 32 || x.shape[3] !== 3) {
    throw new Cifar10Error(
      "invalid_batch",
      `batchGrid: expected x of shape [b, 32, 32, 3], got [${x.shape.join(", ")}]`,
    );
  }
  const classNames = options.classNames ?? CIFAR10_CLASS_NAMES;
  const normalize = options.normalize ?? { mean: CIFAR10_MEAN, std: CIFAR10_STD };
  const count = Math.min(x.shape[0], options.maxImages ?? 64, batch.labels.length);
  const pixels = (await x.data()) as Float32Array;
  const shown = pixels.subarray(0, count * CIFAR10_IMAGE_BYTES);
  const { bytes, clipped } = denormalize(shown, normalize);
  const images: RgbImage[] = [];
  const captions: string[] = [];
  for (let i = 0; i < count; i++) {
    images.push({
      data: bytes.subarray(i * CIFAR10_IMAGE_BYTES, (i + 1) * CIFAR10_IMAGE_BYTES),
      width: 32,
      height: 32,
    });
    const label = Number(batch.labels[i]);
    captions.push(`${label} ${classNames[label] ?? "?"}`);
  }
  const warn = clipped > shown.length * 0.01 ? ` — ${clipped} values clipped: stats mismatch?` : "";
  return imageGrid({
    images,
    captions,
    columns: Math.min(options.columns ?? 8, count),
    title: options.title ?? `${count} of ${x.shape[0]} images; ${summarise(shown)}${warn}`,
  });
}

/** Writes {@link batchGrid} to `path` (`.png` or `.svg`), atomically. */
export async function saveBatchGrid(
  batch: BatchLike,
  path: string,
  options: BatchGridOptions = {},
): Promise<void> {
  const { savePicture } = loadViz("saveBatchGrid");
  await savePicture(await batchGrid(batch, options), path);
}
