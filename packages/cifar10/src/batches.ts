// The epoch iterator a hand-written tfjs training loop drives: seeded shuffle, augmentation,
// normalisation, one float32 batch at a time, prepared one step ahead.
import * as tf from "@tensorflow/tfjs-core";
import type { Augmentation } from "./augmentation.js";
import { compose } from "./augmentation.js";
import { BatchWorker } from "./batch-worker.js";
import { CIFAR10_IMAGE_BYTES, CIFAR10_IMAGE_SIZE, CIFAR10_MEAN, CIFAR10_STD } from "./constants.js";
import { Cifar10Error } from "./errors.js";
import { type BatchPlan, epochOrder, type HostBatch, prepareHostBatch } from "./prepare-batch.js";
import type { Cifar10Split } from "./read-folder.js";

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
   * Augmentations applied to each image, left to right (`[randomCrop(), horizontalFlip()]`;
   * airbench's: `[alternatingFlip(), randomCrop({ padding: 2, paddingMode: "reflect" })]`).
   * Each gets the image's `{ index, epoch, seed }` context. Defaults to none (evaluation).
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
  /**
   * Build batches in a worker thread, so batch k+1 is prepared while the main thread trains on
   * batch k even when the training step never yields. Used when every augmentation is a
   * built-in one (custom ones cannot be sent to a thread); otherwise, or if the worker fails,
   * batches are built on the main thread between steps (see `preparation`), as they are outside
   * Node (a browser page). Defaults to `true`.
   */
  workerThread?: boolean;
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
  workerThread: boolean;
}

/** One training step's data. The caller owns `x` and `y` and must dispose them. */
export interface Cifar10Batch {
  /** `[b, 32, 32, 3]` float32, normalised as configured. */
  x: tf.Tensor4D;
  /** `[b]` int32 labels, or `[b, numClasses]` float32 one-hot. */
  y: tf.Tensor1D | tf.Tensor2D;
  /**
   * The pixels `x` was made from, on the host (`b×32×32×3` float32, the same values): for
   * code that wants them there, e.g. `@cnnkit/train`'s data-parallel replicas, without a read back.
   */
  pixels: Float32Array;
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
    workerThread: options.workerThread ?? true,
  };
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
/** setImmediate where there is one (Node), else a zero-delay timeout (a browser page). */
const nextMacrotask: (run: () => void) => void =
  typeof globalThis.setImmediate === "function"
    ? (run) => setImmediate(run)
    : (run) => setTimeout(run, 0);

export class Cifar10Batches {
  readonly options: Readonly<ResolvedCifar10BatchesOptions>;
  /** Exactly how many batches each epoch yields: feed this to the LR schedule. */
  readonly stepsPerEpoch: number;
  /** Images in the split. */
  readonly length: number;
  private readonly plan: BatchPlan;
  private worker: BatchWorker | null = null;
  private mainThreadReason: string;

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
    this.length = split.length;
    this.stepsPerEpoch = steps;
    // Normalising through a 3×256 lookup table: one load per byte, no arithmetic.
    const lut = new Float32Array(3 * 256);
    for (let c = 0; c < 3; c++) {
      const mean = o.normalize ? o.normalize.mean[c]! : 0;
      const std = o.normalize ? o.normalize.std[c]! : 1;
      for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - mean) / std;
    }
    this.plan = {
      images: split.images,
      labels: split.labels,
      length: split.length,
      batchSize: o.batchSize,
      shuffle: o.shuffle,
      seed: o.seed,
      lut,
      augment: o.augment,
    };
    this.mainThreadReason = !o.workerThread
      ? "workerThread: false"
      : typeof (globalThis as { process?: { getBuiltinModule?: unknown } }).process
            ?.getBuiltinModule !== "function"
        ? "not Node (worker_threads): a browser page prepares batches between steps"
        : o.augment && !o.augment.spec
          ? `augmentation ${o.augment.name} is not a built-in one (no spec to send to a thread)`
          : "";
  }

  /**
   * Where batches are built: in a worker thread (overlapping the training step), or on the
   * main thread between steps, and why.
   */
  get preparation(): { where: "worker-thread" | "main-thread"; reason: string } {
    const failure = this.worker?.failure;
    if (this.mainThreadReason || failure) {
      return { where: "main-thread", reason: this.mainThreadReason || `worker failed: ${failure}` };
    }
    return { where: "worker-thread", reason: "built-in augmentations only" };
  }

  /** Stops the worker thread, if one was started. The object still works, on the main thread. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.mainThreadReason ||= "closed";
    this.worker = null;
    await worker.close();
  }

  /** A host batch from the worker, or from the main thread in the next event-loop turn. */
  fetch(epochIndex: number, step: number, order: Int32Array): Promise<HostBatch> {
    if (!this.mainThreadReason && (!this.worker || this.worker.retired)) {
      const { augment: _, ...plan } = this.plan;
      this.worker = new BatchWorker(plan, this.options.augment?.spec ?? null);
    }
    const worker = this.worker;
    if (worker && !this.mainThreadReason && !worker.failure) {
      return worker
        .request(epochIndex, step)
        .catch(() => this.onMainThread(epochIndex, step, order));
    }
    return this.onMainThread(epochIndex, step, order);
  }

  private onMainThread(epochIndex: number, step: number, order: Int32Array): Promise<HostBatch> {
    // setImmediate runs the preparation in the next macrotask: while the caller's training step
    // awaits (a GPU sync, an event-loop turn), batch k+1 gets built.
    return new Promise((resolve, reject) => {
      nextMacrotask(() => {
        try {
          resolve(this.prepare(epochIndex, step, order));
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  /** The order in which epoch `epochIndex` visits the split (identity without shuffle). */
  order(epochIndex: number): Int32Array {
    checkEpoch(epochIndex);
    return epochOrder(this.plan, epochIndex);
  }

  /**
   * The batches of epoch `epochIndex` (0-based), as an async iterator. Batch k+1 is requested
   * as soon as batch k is handed out and built on the host (in a worker thread when possible)
   * while the caller trains on batch k; tensors are created only when a batch is handed out,
   * so stopping early leaks nothing.
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
    return prepareHostBatch(this.plan, epochIndex, step, order);
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
    return {
      x,
      y,
      pixels: host.pixels,
      labels: host.labels,
      indices: host.indices,
      epoch: epochIndex,
      step: host.step,
    };
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
 * One epoch's batches. `for await` over it, or call `next()` yourself.
 */
export class Cifar10Epoch implements AsyncIterableIterator<Cifar10Batch> {
  private step: number;
  private ahead: Promise<HostBatch> | null = null;
  private stopped = false;
  /** Host batches asked for so far, the one being prepared ahead included. */
  requested = 0;
  /** Host batches finished so far. */
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
    this.requested++;
    const host = this.batches.fetch(this.index, step, this.order).then((h) => {
      this.prepared++;
      return h;
    });
    // A failure surfaces from the next() that awaits it, not as an unhandled rejection.
    host.catch(() => {});
    return host;
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
    if (this.step < this.batches.stepsPerEpoch) this.ahead = this.schedule(this.step);
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
