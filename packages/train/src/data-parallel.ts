// Data-parallel training on one machine: the batch is split across replicas of the model, one
// per group of cores; each computes the loss and gradients of its slice (classifierGradients),
// and this thread averages them, weighted by slice size, into the gradients of the whole batch.
// This thread's model is replica 0 and the caller keeps everything stateful (optimizer,
// schedule, EMA, checkpoints, evaluation); the other replicas are worker threads
// (data-parallel-worker.ts) that build a copy of the model (with the caller's builder, or from
// `model.toJSON()`) and hold nothing more. Every call sends them the current weights, so they
// cannot drift from the model. Node only (worker threads): the entry `@cnnkit/train/data-parallel`.
//
// Why: on a CPU the per-kernel work of a small network is too small for two threads to share
// well, while two replicas of it, one thread each, share nothing: measured 8-46% faster than
// one model on both threads on SmallResNet, 22-53% on a narrow net (`pnpm bench`, this
// package). The price is BatchNorm's batch: each replica normalises over its own slice (as
// PyTorch's DistributedDataParallel without SyncBatchNorm), and the moving statistics are
// replica 0's.
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { onnxRuntimeKernelsActive } from "@cnnkit/backends";
import { checkLabelSmoothing } from "@cnnkit/metrics";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import {
  type ClassifierGradientsOptions,
  classifierGradients,
  trainableVariables,
} from "./classifier-gradients.js";
import { TrainError } from "./errors.js";
import {
  concatFloat32,
  type ReplicaInit,
  type ReplicaMessage,
  type ReplicaRequest,
} from "./replica-protocol.js";
import { applyBatchGradients, type TrainStepOptions, type TrainStepResult } from "./train-step.js";

type Result = Extract<ReplicaMessage, { type: "result" }>;

/** Threads each replica gets: the machine's cores shared out, at least one. */
export function threadsPerReplica(replicas: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / replicas));
}

/** The smallest slice of a batch {@link autoReplicas} gives a replica: fewer images make small, slow kernels. */
export const AUTO_MIN_SLICE = 32;

/**
 * How many replicas to run on `backend` by default: one per core while each keeps at least
 * {@link AUTO_MIN_SLICE} images of a batch of `batchSize`, on wasm and cpu; 1 elsewhere (GPU
 * and native backends use the cores themselves).
 */
export function autoReplicas(
  batchSize: number,
  backend: string,
  cores = os.availableParallelism(),
): number {
  if (backend !== "wasm" && backend !== "cpu") return 1;
  return Math.max(1, Math.min(cores, Math.floor(batchSize / AUTO_MIN_SLICE)));
}

/** Sizes of the slices of a batch of `rows` over `replicas` (the first ones one larger). */
export function sliceSizes(rows: number, replicas: number): number[] {
  const base = Math.floor(rows / replicas);
  const extra = rows % replicas;
  return Array.from({ length: replicas }, (_, i) => base + (i < extra ? 1 : 0));
}

/**
 * The first layer of `model` that its JSON would rebuild as another class (the class registered
 * under its class name is not its own), said in a phrase; `null` when there is none.
 */
function layerTheJsonWouldChange(model: LayersModel): string | null {
  const registered = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const layer of model.layers) {
    const name = layer.getClassName();
    const cls = registered[name]?.[0];
    if (cls !== undefined && cls !== layer.constructor) {
      return `layer "${layer.name}" is a ${layer.constructor.name}, which its JSON ("${name}") would rebuild as tfjs's ${cls.name}`;
    }
  }
  return null;
}

/**
 * The worker script: the built `.js` beside this module; from sources (tests, benches), the
 * TypeScript one, through a bootstrap that registers tsx's loader in the new thread first (Node
 * 20 workers ignore `--import` in `execArgv`) and resolves the packages to their sources.
 */
function startWorker(init: ReplicaInit): Worker {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) {
    return new Worker(new URL("./data-parallel-worker.js", here), { workerData: init });
  }
  const entry = new URL("./data-parallel-worker.ts", here).href;
  // The ESM build of tsx's API (require.resolve would pick its CommonJS one).
  const tsxRoot = dirname(createRequire(here).resolve("tsx/package.json"));
  const api = pathToFileURL(join(tsxRoot, "dist", "esm", "api", "index.mjs")).href;
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, {
    eval: true,
    workerData: init,
    execArgv: ["--conditions=@cnnkit/source"],
  });
}

/** One worker replica: its thread and the request it is working on. */
class Replica {
  private pending = new Map<number, { resolve: (m: Result) => void; reject: (e: Error) => void }>();
  private failure: TrainError | null = null;

  constructor(
    readonly index: number,
    readonly worker: Worker,
  ) {
    worker.on("message", (m: ReplicaMessage) => {
      if (m.type === "result") this.settle(m.id, m);
      else if (m.type === "failed" && m.id !== null) this.settle(m.id, new Error(m.message));
    });
    worker.on("error", (e) => this.fail(e));
    worker.on("exit", (code) => this.fail(new Error(`its thread exited (code ${code})`)));
  }

  private settle(id: number, outcome: Result | Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (outcome instanceof Error) p.reject(this.error(outcome));
    else p.resolve(outcome);
  }

  private fail(e: Error): void {
    this.failure ??= this.error(e);
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  private error(e: Error): TrainError {
    return e instanceof TrainError
      ? e
      : new TrainError("replica_failed", `replica ${this.index}: ${e.message}`, { cause: e });
  }

  /** Waits for the first message: ready, or why not. */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: ReplicaMessage) => {
        if (m.type === "ready") done(null);
        else if (m.type === "failed") done(new Error(m.message));
      };
      const onError = (e: Error) => done(e);
      const onExit = (code: number) => done(new Error(`its thread exited (code ${code})`));
      const done = (e: Error | null) => {
        this.worker.off("message", onMessage).off("error", onError).off("exit", onExit);
        if (e) reject(this.error(new Error(`could not start: ${e.message}`)));
        else resolve();
      };
      this.worker.on("message", onMessage).on("error", onError).on("exit", onExit);
    });
  }

  run(request: ReplicaRequest, transfer: ArrayBuffer[]): Promise<Result> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Result>((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      this.worker.postMessage(request, transfer);
    });
  }
}

/** A function that builds the model, for each worker to call (see {@link DataParallelOptions.build}). */
export interface ReplicaBuilder {
  /**
   * The module exporting it: a `file:` URL, or a specifier the worker can import (resolve a
   * package of yours with `import.meta.resolve("your-package")`: a worker imports from
   * `@cnnkit/backends`' place, not yours).
   */
  module: string | URL;
  /** The export to call. Defaults to `"default"`. */
  export?: string;
  /** What it is called with (structured-cloneable: numbers, strings, plain objects, arrays). */
  args?: readonly unknown[];
}

export interface DataParallelOptions {
  /** Replicas in all, this thread's model included (≥ 2). */
  replicas: number;
  /**
   * How each worker builds its copy of the model: by calling this builder, which must return a
   * model with the same trainable variables (shapes, order) — the same code, so the same
   * kernels and the same numbers. Without it a worker rebuilds the model from
   * `model.toJSON()` with the layer classes registered under its class names, which is exact
   * only for models of registered classes: `start` refuses a model whose layers are
   * unregistered subclasses (as `@cnnkit/resnet`'s are: faster layers that serialise as the
   * built-ins), naming the layer.
   */
  build?: ReplicaBuilder;
  /** Threads of each worker replica's backend. Defaults to {@link threadsPerReplica}. */
  threads?: number;
  /**
   * Modules (specifiers or `file:` URLs) each worker imports before it rebuilds the model from
   * its JSON: where a model's custom layers register their classes
   * (`serialization.registerClass`). Defaults to none (tfjs-layers' own layers need none).
   */
  setup?: readonly (string | URL)[];
}

/** A batch on the host: row-major float32 `values` of `shape` (`[rows, ...]`). */
export interface HostTensor {
  values: Float32Array;
  shape: readonly number[];
}

/** The averaged result of {@link DataParallel.gradients}. */
export interface DataParallelGradients {
  /** Mean loss of the whole batch (read; `NaN` or `Infinity` when a slice diverged). */
  loss: number;
  /** Correct top-1 predictions in the whole batch. */
  correct: number;
  /**
   * Gradient of the batch's mean loss for each trainable variable of the model, keyed by
   * variable name, as one model computing the whole batch would key them: the caller's to
   * apply (`optimizer.applyGradients`) and dispose.
   */
  grads: tf.NamedTensorMap;
}

/**
 * Data-parallel replicas of a tfjs-layers classifier on this machine's cores. Choose the
 * backend first (`useBackend("wasm", { threads: threadsPerReplica(n) })`), start the group on
 * the model, and where a single-model loop computes its gradients, call {@link gradients}:
 *
 * ```ts
 * const dp = await DataParallel.start(model, { replicas: 2 });
 * const { loss, grads } = await dp.gradients(x, y, { labelSmoothing: 0.1 });
 * optimizer.applyGradients(grads);
 * tf.dispose(Object.values(grads));
 * await dp.close();
 * ```
 */
export class DataParallel {
  private nextId = 0;

  private constructor(
    /** The model every replica copies: replica 0, on this thread. */
    readonly model: LayersModel,
    private readonly workers: Replica[],
  ) {}

  /** Replicas in all, this thread's included. */
  get size(): number {
    return this.workers.length + 1;
  }

  /**
   * Starts `replicas - 1` worker threads, each rebuilding `model` from its JSON on this
   * thread's backend (wasm or cpu, with ONNX Runtime's convolutions when this thread has them).
   * Throws a `TrainError` (`invalid_option`, `replicas_unsupported`, `replica_failed`) naming
   * what failed; no thread is left running then.
   */
  static async start(model: LayersModel, options: DataParallelOptions): Promise<DataParallel> {
    const { replicas } = options;
    if (!Number.isSafeInteger(replicas) || replicas < 2) {
      throw new TrainError(
        "invalid_option",
        `DataParallel: replicas: expected an integer of 2 or more, got ${replicas}`,
      );
    }
    const threads = options.threads ?? threadsPerReplica(replicas);
    if (!Number.isSafeInteger(threads) || threads < 1) {
      throw new TrainError(
        "invalid_option",
        `DataParallel: threads: expected a positive integer, got ${threads}`,
      );
    }
    const backend = tf.getBackend();
    if (backend !== "wasm" && backend !== "cpu") {
      throw new TrainError(
        "replicas_unsupported",
        `DataParallel: replicas run on the wasm or cpu backend; this thread is on ${backend}, which uses the cores (or the GPU) itself: train one model`,
      );
    }
    if (!options.build) {
      const unfaithful = layerTheJsonWouldChange(model);
      if (unfaithful) {
        throw new TrainError(
          "invalid_option",
          `DataParallel: ${unfaithful}; pass \`build\` so that each worker builds the model with the same code`,
        );
      }
    }
    const init: ReplicaInit = {
      model: options.build
        ? {
            build: {
              module: String(options.build.module),
              export: options.build.export ?? "default",
              args: [...(options.build.args ?? [])],
            },
          }
        : { topology: model.toJSON(null, false) as object },
      setup: (options.setup ?? []).map(String),
      backend,
      threads,
      onnxruntime: onnxRuntimeKernelsActive() !== null,
      shapes: trainableVariables(model).map((v) => v.shape),
    };
    const workers = Array.from(
      { length: replicas - 1 },
      (_, i) => new Replica(i + 1, startWorker(init)),
    );
    try {
      await Promise.all(workers.map((w) => w.ready()));
    } catch (error) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw error;
    }
    return new DataParallel(model, workers);
  }

  /**
   * The loss, correct count and gradients of the batch `x` (`[rows, ...]` float32) with labels
   * `y` (`[rows]` class ids), equal to what {@link classifierGradients} computes on one model
   * except that BatchNorm normalises each replica's slice: the rows are split in order
   * ({@link sliceSizes}; this thread takes the first slice) and the slices' results averaged
   * weighted by rows. `x` and `y` may be tensors, or the host arrays a data loader already has
   * (`{ values, shape }` and e.g. a `Uint8Array` of labels): then no batch tensor is made and
   * read back, only this thread's slice becomes one. Leaves no tensors behind but the returned
   * gradients. A failed replica rejects with `replica_failed` naming it.
   */
  async gradients(
    x: tf.Tensor | HostTensor,
    y: tf.Tensor1D | ArrayLike<number>,
    options: ClassifierGradientsOptions = {},
  ): Promise<DataParallelGradients> {
    const labelSmoothing = checkLabelSmoothing(options.labelSmoothing, "DataParallel.gradients");
    const host = !(x instanceof tf.Tensor);
    const shape = host ? [...x.shape] : x.shape;
    const rows = shape[0] ?? 0;
    const rest = shape.slice(1);
    const perRow = rest.reduce((a, b) => a * b, 1);
    const yRows = y instanceof tf.Tensor ? (y.rank === 1 ? y.shape[0] : -1) : y.length;
    const xOk = host
      ? x.values instanceof Float32Array && x.values.length === rows * perRow
      : x.dtype === "float32";
    if (!xOk || !Number.isSafeInteger(rows) || rows < 1 || yRows !== rows) {
      const got = host
        ? `x of [${shape.join(", ")}] with ${(x.values as { length?: number })?.length} values${x.values instanceof Float32Array ? "" : " (not a Float32Array)"}`
        : `${x.dtype} x of [${shape.join(", ")}]`;
      const gotY = y instanceof tf.Tensor ? `y of [${y.shape.join(", ")}]` : `${yRows} labels`;
      throw new TrainError(
        "invalid_option",
        `DataParallel.gradients: expected float32 x of [rows, ...] (a tensor, or { values: Float32Array of rows × ... numbers, shape }) and y of [rows], rows ≥ 1; got ${got} and ${gotY}`,
      );
    }
    const sizes = sliceSizes(rows, this.size);
    const variables = trainableVariables(this.model);
    const weights = concatFloat32(await Promise.all(variables.map((v) => v.data<"float32">())));
    // The workers' slices go out first, so they work while this thread does its own.
    const [xData, yData] = await Promise.all([
      host ? x.values : (x as tf.Tensor).data<"float32">(),
      y instanceof tf.Tensor ? y.data() : y,
    ]);
    const labelsOf = (from: number, n: number) => {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = yData[from + i]!;
      return out;
    };
    const remote: Promise<Result>[] = [];
    let start = sizes[0]!;
    for (const [i, worker] of this.workers.entries()) {
      const n = sizes[i + 1]!;
      if (n === 0) continue;
      const xs = xData.slice(start * perRow, (start + n) * perRow);
      const ys = labelsOf(start, n);
      const last = i === this.workers.length - 1;
      const ws = last ? weights : weights.slice();
      remote.push(
        worker.run(
          {
            type: "gradients",
            id: this.nextId++,
            weights: ws,
            x: xs,
            xShape: [n, ...rest],
            y: ys,
            labelSmoothing,
          },
          [ws.buffer, xs.buffer as ArrayBuffer, ys.buffer],
        ),
      );
      start += n;
    }
    // Observed here so that a replica failing while this thread works is not an unhandled
    // rejection; `Promise.all(remote)` below still sees it.
    for (const p of remote) p.catch(() => undefined);
    const n0 = sizes[0]!;
    const local = tf.tidy(() =>
      classifierGradients(
        this.model,
        host
          ? tf.tensor(xData.subarray(0, n0 * perRow), [n0, ...rest], "float32")
          : tf.slice(x as tf.Tensor, 0, n0),
        tf.tensor1d(labelsOf(0, n0), "int32"),
        { labelSmoothing },
      ),
    );
    try {
      const [lossValue, correctValue, ...localGrads] = await Promise.all([
        local.value.data(),
        local.correct.data(),
        ...variables.map((v) => local.grads[v.name]!.data<"float32">()),
      ]);
      const results = await Promise.all(remote);
      // Weighted by rows: the mean over the whole batch, as one model would compute it.
      const shares = sizes.filter((n) => n > 0).map((n) => n / rows);
      let loss = shares[0]! * lossValue[0]!;
      let correct = correctValue[0]!;
      for (const [k, r] of results.entries()) {
        loss += shares[k + 1]! * r.loss;
        correct += r.correct;
      }
      const grads: tf.NamedTensorMap = {};
      let offset = 0;
      for (const [i, v] of variables.entries()) {
        const g0 = localGrads[i] as Float32Array;
        const sum = new Float32Array(g0.length);
        for (let j = 0; j < g0.length; j++) {
          let s = shares[0]! * g0[j]!;
          for (const [k, r] of results.entries()) s += shares[k + 1]! * r.grads[offset + j]!;
          sum[j] = s;
        }
        grads[v.name] = tf.tensor(sum, v.shape, "float32");
        offset += g0.length;
      }
      return { loss, correct, grads };
    } finally {
      tf.dispose([local.value, local.correct, ...Object.values(local.grads)]);
    }
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

/**
 * `trainStep` with data-parallel replicas ({@link DataParallel}, started on the model): the
 * replicas compute the batch's loss and gradients between them, this thread applies them
 * exactly as `trainStep` does. Same contract: nothing applied when the loss is not finite, no
 * tensors left behind. `x` and `y` as {@link DataParallel.gradients} takes them: tensors, or the
 * loader's host arrays.
 */
export async function dataParallelStep(
  replicas: DataParallel,
  optimizer: tf.Optimizer,
  x: tf.Tensor | HostTensor,
  y: tf.Tensor1D | ArrayLike<number>,
  options: TrainStepOptions = {},
): Promise<TrainStepResult> {
  if (options.float16) {
    // The replicas would compute float32 gradients: refusing beats silently ignoring the option.
    throw new TrainError(
      "invalid_option",
      "dataParallelStep: float16: emulated float16 runs in trainStep only (one model, no replicas)",
    );
  }
  const { loss, correct, grads } = await replicas.gradients(x, y, {
    labelSmoothing: options.labelSmoothing ?? 0,
  });
  try {
    const { gradNorm } = applyBatchGradients(optimizer, loss, grads, options);
    return { loss, correct, gradNorm };
  } finally {
    tf.dispose(Object.values(grads));
  }
}
