// Data-parallel training on one machine: the batch is split across replicas of the model, one
// per group of cores, each computing the gradients of its slice; the main thread averages them
// (weighted by slice size) and applies the one optimizer step. The main thread is replica 0 and
// keeps everything else (optimizer, schedule, EMA, checkpoints, evaluation); the others are
// worker threads that hold a copy of the model and nothing more. Before every step they receive
// the current weights, so they cannot drift from the main model.
//
// Why: on a CPU the per-kernel work of a small network is too small for two threads to share
// well (the narrow SmallResNet trains 1.25x faster on two threads than on one), while two
// replicas of it, one thread each, train ~1.3x faster than both threads on one model (see the
// README's "Replicas"). The price is BatchNorm's batch: each replica normalises over its own
// slice (as PyTorch's DistributedDataParallel without SyncBatchNorm), and the moving statistics
// kept for evaluation are replica 0's.
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { onnxRuntimeKernelsActive } from "@cnnkit/backends";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import type { TrainConfig } from "./config.js";
import { TrainerError } from "./errors.js";
import {
  applyBatchGradients,
  batchGradients,
  type TrainStepOptions,
  type TrainStepResult,
  trainableVariables,
} from "./train-step.js";

/** What a replica worker is started with (`workerData`). */
export interface ReplicaInit {
  model: Pick<TrainConfig, "model" | "widths" | "shortcut" | "seed">;
  numClasses: number;
  /** The tfjs backend of the main thread, which every replica uses too. */
  backend: "wasm" | "cpu";
  threads: number;
  /** Whether the main thread runs its convolutions on ONNX Runtime (the replicas then must). */
  onnxruntime: boolean;
  /** Shapes of the trainable variables, in order: the replica checks its model against them. */
  shapes: number[][];
}

/** Main thread → replica: one slice of a step. */
export interface ReplicaStepRequest {
  type: "step";
  id: number;
  /** All trainable weights, concatenated in `trainableWeights` order. */
  weights: Float32Array;
  x: Float32Array;
  /** `[rows, height, width, channels]` of `x`. */
  xShape: [number, number, number, number];
  y: Int32Array;
  labelSmoothing: number;
}

/** Replica → main thread. */
export type ReplicaMessage =
  | { type: "ready" }
  | { type: "result"; id: number; loss: number; correct: number; grads: Float32Array }
  | { type: "failed"; id: number | null; message: string };

/** Threads each replica gets: the machine's cores shared out, at least one. */
export function threadsPerReplica(replicas: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / replicas));
}

/** The smallest slice of a batch `"auto"` gives a replica: fewer images make small, slow kernels. */
export const AUTO_MIN_SLICE = 32;

/**
 * How many replicas a run gets on `backend`: the configured number, or for `"auto"` one per
 * core while each keeps at least {@link AUTO_MIN_SLICE} images of the batch, on wasm and cpu
 * (GPU and native backends use the cores themselves: 1).
 */
export function resolveReplicas(
  config: Pick<TrainConfig, "replicas" | "batchSize">,
  backend: string,
  cores = os.availableParallelism(),
): number {
  if (config.replicas !== "auto") return config.replicas;
  if (backend !== "wasm" && backend !== "cpu") return 1;
  return Math.max(1, Math.min(cores, Math.floor(config.batchSize / AUTO_MIN_SLICE)));
}

/** Sizes of the slices of a batch of `rows` over `replicas` (the first ones one larger). */
export function sliceSizes(rows: number, replicas: number): number[] {
  const base = Math.floor(rows / replicas);
  const extra = rows % replicas;
  return Array.from({ length: replicas }, (_, i) => base + (i < extra ? 1 : 0));
}

/**
 * The worker script: the built `.js` beside this module; from sources (tests, benches), the
 * TypeScript one, through a bootstrap that registers tsx's loader in the new thread first (Node
 * 20 workers ignore `--import` in `execArgv`) and resolves the packages to their sources.
 */
function startWorker(init: ReplicaInit): Worker {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) {
    return new Worker(new URL("./replica-worker.js", here), { workerData: init });
  }
  const entry = new URL("./replica-worker.ts", here).href;
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

interface Pending {
  resolve: (m: Extract<ReplicaMessage, { type: "result" }>) => void;
  reject: (e: Error) => void;
}

/** One worker replica: its thread and the step it is working on. */
class Replica {
  private pending = new Map<number, Pending>();
  private failure: Error | null = null;

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

  private settle(id: number, outcome: Extract<ReplicaMessage, { type: "result" }> | Error): void {
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

  private error(e: Error): TrainerError {
    return e instanceof TrainerError
      ? e
      : new TrainerError("replica_failed", `replica ${this.index}: ${e.message}`, { cause: e });
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

  run(request: ReplicaStepRequest, transfer: ArrayBuffer[]) {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Extract<ReplicaMessage, { type: "result" }>>((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      this.worker.postMessage(request, transfer);
    });
  }
}

export interface ReplicaGroupOptions {
  /** Replicas in all, the main thread included (≥ 2). */
  replicas: number;
  /** Threads of each worker replica's backend. Defaults to {@link threadsPerReplica}. */
  threads?: number;
}

/**
 * The worker replicas of a data-parallel run; the main thread's model is replica 0. Start it
 * after choosing the backend (`useBackend`, with {@link threadsPerReplica} threads), call
 * {@link ReplicaGroup.step} where a single-model loop calls `trainStep`, and `close()` at the end.
 */
export class ReplicaGroup {
  private nextId = 0;

  private constructor(
    private readonly workers: Replica[],
    /** Trainable parameters of the model the workers were started for. */
    private readonly parameters: number,
  ) {}

  /** Replicas in all, the main thread included. */
  get size(): number {
    return this.workers.length + 1;
  }

  /**
   * Starts `replicas - 1` worker threads, each building the config's model on the main thread's
   * backend. Throws a `TrainerError` (`replicas_unsupported`, `replica_failed`) naming what
   * failed; no thread is left running then.
   */
  static async start(
    config: Pick<TrainConfig, "model" | "widths" | "shortcut" | "seed">,
    model: LayersModel,
    numClasses: number,
    options: ReplicaGroupOptions,
  ): Promise<ReplicaGroup> {
    const { replicas } = options;
    if (!Number.isSafeInteger(replicas) || replicas < 2) {
      throw new TrainerError(
        "config_invalid",
        `ReplicaGroup: expected 2 or more replicas, got ${replicas}`,
      );
    }
    const backend = tf.getBackend();
    if (backend !== "wasm" && backend !== "cpu") {
      throw new TrainerError(
        "replicas_unsupported",
        `replicas run on the wasm or cpu backend; this run is on ${backend}, which uses the cores (or the GPU) itself: use replicas 1`,
      );
    }
    const variables = trainableVariables(model);
    const init: ReplicaInit = {
      model: {
        model: config.model,
        widths: config.widths,
        shortcut: config.shortcut,
        seed: config.seed,
      },
      numClasses,
      backend,
      threads: options.threads ?? threadsPerReplica(replicas),
      onnxruntime: onnxRuntimeKernelsActive() !== null,
      shapes: variables.map((v) => v.shape),
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
    return new ReplicaGroup(
      workers,
      variables.reduce((n, v) => n + v.size, 0),
    );
  }

  /**
   * One data-parallel step: the same contract as `trainStep` (mean loss of the whole batch,
   * correct count, gradient norm; nothing applied when the loss is not finite; no tensors left
   * behind). The batch's rows are split in order: replica 0 (this thread) takes the first slice.
   */
  async step(
    model: LayersModel,
    optimizer: tf.Optimizer,
    x: tf.Tensor4D,
    y: tf.Tensor1D,
    options: TrainStepOptions = {},
  ): Promise<TrainStepResult> {
    const rows = x.shape[0];
    const sizes = sliceSizes(rows, this.size);
    const [, h, w, c] = x.shape;
    // `model` must be the one the group was started for (or of the same config): the workers
    // check the shapes once, and the weights are sent every step.
    const variables = trainableVariables(model);
    const weights = await flatData(variables);
    if (weights.length !== this.parameters) {
      throw new TrainerError(
        "replica_failed",
        `ReplicaGroup.step: the model has ${weights.length} trainable parameters, the replicas ${this.parameters}: pass the model the group was started for`,
      );
    }
    // The workers' slices go out first, so they work while this thread does its own.
    const [xData, yData] = await Promise.all([x.data<"float32">(), y.data<"int32">()]);
    const remote: Promise<Extract<ReplicaMessage, { type: "result" }>>[] = [];
    let start = sizes[0]!;
    for (const [i, worker] of this.workers.entries()) {
      const n = sizes[i + 1]!;
      if (n === 0) continue;
      const pixels = h * w * c;
      const xs = xData.slice(start * pixels, (start + n) * pixels);
      const ys = yData.slice(start, start + n);
      const last = i === this.workers.length - 1;
      const ws = last ? weights : weights.slice();
      const request: ReplicaStepRequest = {
        type: "step",
        id: this.nextId++,
        weights: ws,
        x: xs,
        xShape: [n, h, w, c],
        y: ys,
        labelSmoothing: options.labelSmoothing ?? 0,
      };
      remote.push(worker.run(request, [ws.buffer as ArrayBuffer, xs.buffer, ys.buffer]));
      start += n;
    }
    // Observed here so that a replica failing while this thread works is not an unhandled
    // rejection; `Promise.all(remote)` below still sees it.
    for (const p of remote) p.catch(() => undefined);
    // Replica 0's slice; its weights stay local.
    const n0 = sizes[0]!;
    const local = tf.tidy(() => {
      const x0 = tf.slice(x, [0, 0, 0, 0], [n0, h, w, c]);
      const y0 = tf.slice(y, [0], [n0]);
      return batchGradients(model, x0, y0, options.labelSmoothing ?? 0);
    });
    let averaged: tf.NamedTensorMap = {};
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
      let offset = 0;
      for (const [i, v] of variables.entries()) {
        const g0 = localGrads[i] as Float32Array;
        const sum = new Float32Array(g0.length);
        for (let j = 0; j < g0.length; j++) {
          let s = shares[0]! * g0[j]!;
          for (const [k, r] of results.entries()) s += shares[k + 1]! * r.grads[offset + j]!;
          sum[j] = s;
        }
        averaged[v.name] = tf.tensor(sum, v.shape, "float32");
        offset += g0.length;
      }
      const { gradNorm } = applyBatchGradients(optimizer, loss, averaged, options);
      return { loss, correct, gradNorm };
    } finally {
      tf.dispose([local.value, local.correct, ...Object.values(local.grads)]);
      tf.dispose(Object.values(averaged));
      averaged = {};
    }
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

/** The variables' values, concatenated (what every worker starts a step from). */
async function flatData(variables: tf.Variable[]): Promise<Float32Array<ArrayBuffer>> {
  return concatFloat32(await Promise.all(variables.map((v) => v.data<"float32">())));
}

/** One array holding `parts` one after another (weights or gradients in variable order). */
export function concatFloat32(
  parts: readonly (Float32Array | ArrayLike<number>)[],
): Float32Array<ArrayBuffer> {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
