// The epoch iterator a hand-written tfjs training loop drives: seeded shuffle, augmentation,
// normalisation, one float32 batch at a time, prepared one step ahead.
import * as tf from "@tensorflow/tfjs-core";
import type { Augmentation } from "./augmentation.js";
import { compose } from "./augmentation.js";
import { CIFAR10_IMAGE_BYTES, CIFAR10_IMAGE_SIZE, CIFAR10_MEAN, CIFAR10_STD } from "./constants.js";
import { Cifar10Error } from "./errors.js";
import type { Cifar10Split } from "./read-folder.js";
import { Rng } from "./rng.js";

/** Per-channel statistics to normalise with, on the [0, 1] pixel scale. */
export interface NormalizeStats {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

export interface Cifar10BatchesOptions {
  /** Images per batch. Defaults to 128. */
  batchSize?: number;
  /** Reshuffle the order every epoch. Defaults to `true`. */
  shuffle?: boolean;
  /** Seed of the shuffle and of the augmentations. Defaults to 0. */
  seed?: number;
  /** Drop the last, smaller batch of an epoch. Defaults to `false`. */
  dropLast?: boolean;
  /**
   * Augmentations applied to each image, left to right (`[randomCrop(), horizontalFlip()]`).
   * Defaults to none (evaluation).
   */
  augment?: Augmentation | readonly Augmentation[] | null;
  /**
   * Normalise pixels to `(x/255 − mean)/std`, or `false` for plain `x/255`.
   * Defaults to `{ mean: CIFAR10_MEAN, std: CIFAR10_STD }`.
   */
  normalize?: NormalizeStats | false;
  /** Labels as a float32 one-hot `[b, numClasses]` tensor instead of int32 `[b]`. Defaults to `false`. */
  oneHot?: boolean;
  /** Classes for one-hot labels. Defaults to 10. */
  numClasses?: number;
}

export interface ResolvedCifar10BatchesOptions {
  batchSize: number;
  shuffle: boolean;
  seed: number;
  dropLast: boolean;
  augment: Augmentation | null;
  normalize: NormalizeStats | false;
  oneHot: boolean;
  numClasses: number;
}

/** One training step's data. The caller owns `x` and `y` and must dispose them. */
export interface Cifar10Batch {
  /** `[b, 32, 32, 3]` float32, normalised as configured. */
  x: tf.Tensor4D;
  /** `[b]` int32 labels, or `[b, numClasses]` float32 one-hot. */
  y: tf.Tensor1D | tf.Tensor2D;
  /** The labels on the host (for metrics without a device read). */
  labels: Uint8Array;
  /** Which images of the split this batch holds, in order. */
  indices: Int32Array;
  /** The epoch this batch belongs to. */
  epoch: number;
  /** The step within the epoch, from 0 to `stepsPerEpoch − 1`. */
  step: number;
}

export interface EpochOptions {
  /** Resume mid-epoch: skip straight to this step (the batches are the same as uninterrupted). Defaults to 0. */
  startStep?: number;
}

// Independent RNG streams per purpose, so shuffling never shifts the augmentation draws.
const SHUFFLE_STREAM = 1;
const AUGMENT_STREAM = 2;

function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Cifar10Error("invalid_option", `${what}: expected a positive integer, got ${value}`);
  }
  return value;
}

function resolveBatchesOptions(options: Cifar10BatchesOptions): ResolvedCifar10BatchesOptions {
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Cifar10Error("invalid_option", `seed: expected a non-negative integer, got ${seed}`);
  }
  const augment = options.augment ?? null;
  const normalize = options.normalize ?? { mean: CIFAR10_MEAN, std: CIFAR10_STD };
  if (normalize) {
    const ok = (a: readonly number[], positive: boolean) =>
      Array.isArray(a) &&
      a.length === 3 &&
      a.every((v) => Number.isFinite(v) && (!positive || v > 0));
    if (!ok(normalize.mean, false) || !ok(normalize.std, true)) {
      throw new Cifar10Error(
        "invalid_option",
        `normalize: expected { mean: [3 numbers], std: [3 positive numbers] } on the [0, 1] scale, got ${JSON.stringify(normalize)}`,
      );
    }
    if (normalize.mean.some((m) => m > 1)) {
      throw new Cifar10Error(
        "invalid_option",
        `normalize.mean: expected values on the [0, 1] pixel scale, got ${JSON.stringify(normalize.mean)} (0–255 scale?)`,
      );
    }
  }
  return {
    batchSize: positiveInt(options.batchSize ?? 128, "batchSize"),
    shuffle: options.shuffle ?? true,
    seed,
    dropLast: options.dropLast ?? false,
    augment:
      augment === null
        ? null
        : Array.isArray(augment)
          ? compose(augment)
          : (augment as Augmentation),
    normalize,
    oneHot: options.oneHot ?? false,
    numClasses: positiveInt(options.numClasses ?? 10, "numClasses"),
  };
}

/** A batch prepared on the host, before it becomes tensors. */
export interface HostBatch {
  pixels: Float32Array;
  labels: Uint8Array;
  indices: Int32Array;
  step: number;
}

/**
 * Batches of one split, epoch after epoch. Everything random is a pure function of
 * `(seed, epoch, step)`, so any batch can be rebuilt exactly, and a resumed run (same seed,
 * `epoch(e, { startStep })`) sees the same pixels as an uninterrupted one.
 *
 * ```ts
 * const batches = new Cifar10Batches(data.train, { batchSize: 128, augment: [randomCrop(), horizontalFlip()] });
 * const schedule = new OneCycleLR({ maxLr: 0.01, epochs, stepsPerEpoch: batches.stepsPerEpoch });
 * for await (const { x, y } of batches.epoch(e)) { …train…; tf.dispose([x, y]); }
 * ```
 */
export class Cifar10Batches {
  readonly options: Readonly<ResolvedCifar10BatchesOptions>;
  /** Exactly how many batches each epoch yields: feed this to the LR schedule. */
  readonly stepsPerEpoch: number;
  /** Images in the split. */
  readonly length: number;
  private readonly split: Cifar10Split;
  private readonly lut: Float32Array;

  constructor(split: Cifar10Split, options: Cifar10BatchesOptions = {}) {
    const o = resolveBatchesOptions(options);
    if (
      !split ||
      !(split.images instanceof Uint8Array) ||
      !(split.labels instanceof Uint8Array) ||
      split.images.length !== split.length * CIFAR10_IMAGE_BYTES ||
      split.labels.length !== split.length
    ) {
      throw new Cifar10Error(
        "invalid_split",
        `Cifar10Batches: expected a split of N images (N×3072 bytes) and N labels, got images of ${split?.images?.length} bytes, ${split?.labels?.length} labels, length ${split?.length}`,
      );
    }
    const steps = o.dropLast
      ? Math.floor(split.length / o.batchSize)
      : Math.ceil(split.length / o.batchSize);
    if (steps === 0) {
      throw new Cifar10Error(
        "invalid_option",
        `batchSize: expected at most ${split.length} (the split's size) with dropLast, got ${o.batchSize}: an epoch would have no batch`,
      );
    }
    this.options = Object.freeze(o);
    this.split = split;
    this.length = split.length;
    this.stepsPerEpoch = steps;
    // Normalising through a 3×256 lookup table: one load per byte, no arithmetic.
    this.lut = new Float32Array(3 * 256);
    for (let c = 0; c < 3; c++) {
      const mean = o.normalize ? o.normalize.mean[c]! : 0;
      const std = o.normalize ? o.normalize.std[c]! : 1;
      for (let v = 0; v < 256; v++) this.lut[c * 256 + v] = (v / 255 - mean) / std;
    }
  }

  /** The order in which epoch `epochIndex` visits the split (identity without shuffle). */
  order(epochIndex: number): Int32Array {
    checkEpoch(epochIndex);
    const order = new Int32Array(this.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    if (this.options.shuffle) new Rng(this.options.seed, SHUFFLE_STREAM, epochIndex).shuffle(order);
    return order;
  }

  /**
   * The batches of epoch `epochIndex` (0-based), as an async iterator. Batch k+1 is prepared
   * on the host while the caller works on batch k; tensors are created only when a batch is
   * handed out, so stopping early leaks nothing.
   */
  epoch(epochIndex: number, options: EpochOptions = {}): Cifar10Epoch {
    const startStep = options.startStep ?? 0;
    if (!Number.isInteger(startStep) || startStep < 0 || startStep > this.stepsPerEpoch) {
      throw new Cifar10Error(
        "invalid_option",
        `startStep: expected an integer in [0, ${this.stepsPerEpoch}], got ${startStep}`,
      );
    }
    return new Cifar10Epoch(this, epochIndex, this.order(epochIndex), startStep);
  }

  /** Builds batch `step` of an epoch on the host: augmented, normalised pixels and labels. */
  prepare(epochIndex: number, step: number, order: Int32Array): HostBatch {
    const { batchSize, augment, seed } = this.options;
    const start = step * batchSize;
    const indices = order.slice(start, Math.min(start + batchSize, order.length));
    const n = indices.length;
    const pixels = new Float32Array(n * CIFAR10_IMAGE_BYTES);
    const labels = new Uint8Array(n);
    const rng = augment ? new Rng(seed, AUGMENT_STREAM, epochIndex, step) : null;
    const scratch = augment ? new Uint8Array(CIFAR10_IMAGE_BYTES) : null;
    const lut = this.lut;
    const { images } = this.split;
    for (let i = 0; i < n; i++) {
      const idx = indices[i]!;
      labels[i] = this.split.labels[idx]!;
      let src = images.subarray(idx * CIFAR10_IMAGE_BYTES, (idx + 1) * CIFAR10_IMAGE_BYTES);
      if (augment) {
        augment.apply(src, scratch!, rng!);
        src = scratch!;
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

  /** Turns a host batch into tensors (the caller disposes them). */
  toTensors(host: HostBatch, epochIndex: number): Cifar10Batch {
    const n = host.labels.length;
    const S = CIFAR10_IMAGE_SIZE;
    const x = tf.tensor4d(host.pixels, [n, S, S, 3], "float32");
    let y: tf.Tensor1D | tf.Tensor2D;
    if (this.options.oneHot) {
      const k = this.options.numClasses;
      const hot = new Float32Array(n * k);
      for (let i = 0; i < n; i++) {
        const label = host.labels[i]!;
        if (label >= k) {
          x.dispose();
          throw new Cifar10Error(
            "invalid_option",
            `numClasses: expected more than the largest label, got ${k} for label ${label}`,
          );
        }
        hot[i * k + label] = 1;
      }
      y = tf.tensor2d(hot, [n, k], "float32");
    } else {
      y = tf.tensor1d(Int32Array.from(host.labels), "int32");
    }
    return { x, y, labels: host.labels, indices: host.indices, epoch: epochIndex, step: host.step };
  }
}

function checkEpoch(epochIndex: number): void {
  if (!Number.isSafeInteger(epochIndex) || epochIndex < 0) {
    throw new Cifar10Error(
      "invalid_option",
      `epoch: expected a non-negative integer, got ${epochIndex}`,
    );
  }
}

/**
 * One epoch's batches. `for await` over it, or call `next()` yourself; `prepared` counts host
 * batches built so far (including the one being prepared ahead).
 */
export class Cifar10Epoch implements AsyncIterableIterator<Cifar10Batch> {
  private step: number;
  private ahead: Promise<HostBatch> | null = null;
  private stopped = false;
  /** Host batches built so far, the prefetched one included. */
  prepared = 0;

  constructor(
    private readonly batches: Cifar10Batches,
    /** The epoch index. */
    readonly index: number,
    private readonly order: Int32Array,
    startStep: number,
  ) {
    this.step = startStep;
  }

  /** The step the next batch will have: where to resume from. */
  get nextStep(): number {
    return this.step;
  }

  private schedule(step: number): Promise<HostBatch> {
    // setImmediate runs the preparation in the next macrotask: while the caller's training step
    // awaits (a GPU sync, `await loss.data()`, an event-loop turn), batch k+1 gets built.
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        try {
          this.prepared++;
          resolve(this.batches.prepare(this.index, step, this.order));
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  async next(): Promise<IteratorResult<Cifar10Batch>> {
    if (this.stopped || this.step >= this.batches.stepsPerEpoch) {
      this.stopped = true;
      this.ahead = null;
      return { done: true, value: undefined };
    }
    const current = this.ahead ?? this.schedule(this.step);
    this.ahead = null;
    const host = await current;
    if (this.stopped) return { done: true, value: undefined };
    this.step++;
    if (this.step < this.batches.stepsPerEpoch) {
      this.ahead = this.schedule(this.step);
      // A failure surfaces from the next() that awaits it, not as an unhandled rejection.
      this.ahead.catch(() => {});
    }
    return { done: false, value: this.batches.toTensors(host, this.index) };
  }

  /** Stops the epoch (a `break` out of `for await` calls this); nothing is left allocated. */
  async return(): Promise<IteratorResult<Cifar10Batch>> {
    this.stopped = true;
    this.ahead = null;
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
