// Runs a cached graph on tfjs tensors' memory, writing its one output into a new tfjs tensor.
import type { TensorInfo } from "@tensorflow/tfjs-core";
import type { KernelOps } from "../kernel-ops.js";
import type { OnnxGraph } from "./onnx-model.js";
import { activeRuntime, type Runtime } from "./runtime.js";
import { session } from "./session-cache.js";

/**
 * ONNX Runtime reads and writes only unshared memory. Single-threaded wasm and cpu tensors are
 * passed as they are (no copy); multi-threaded wasm keeps its heap in a SharedArrayBuffer, so
 * its tensors are copied through these buffers (a memcpy: ~3% of a convolution's time).
 */
let scratch: Float32Array[] = [];

function unshared(values: Float32Array, slot: number, copyIn = true): Float32Array {
  if (!(values.buffer instanceof SharedArrayBuffer)) return values;
  let buf = scratch[slot];
  if (buf == null || buf.length < values.length) {
    buf = new Float32Array(values.length);
    scratch[slot] = buf;
  }
  const copy = buf.subarray(0, values.length);
  if (copyIn) copy.set(values);
  return copy;
}

/** Drops the copy buffers (when the kernels are unregistered). */
export function releaseScratch(): void {
  scratch = [];
}

/**
 * When a graph's output is written in several runs over slices of the batch (see `BatchSplit`).
 *
 * onnxruntime-node (1.30, 1.31) copies every output of a run into a new ArrayBuffer, even one
 * it wrote into the buffer passed for it. glibc serves allocations above 32 MiB with fresh pages
 * from the OS, which that copy then faults in one by one: fastResNet's 24-channel activations at
 * batch 1,024 (94 MB) cost ~23,000 page faults and ~50 ms per run beyond the operators. Split
 * into runs of at most 2 MiB, the copies come from reused memory and stay in cache: that
 * convolution and its input gradient 1.12-1.33x faster (a one-off script); whole fastResNet steps
 * 1.09x against one run (`bench:route-ab --runs`), 1.14-1.16x with minChannels 16 against 32. Smaller outputs are not split: at
 * 16-22 MB (SmallResNet at batch 64, fastResNet's 96-channel layers) runs measured 0.7-1.1x.
 */
export const runLimits = {
  /** Outputs of more bytes than this are split (glibc's largest mmap threshold). */
  splitAboveBytes: 32 * 1024 * 1024,
  /** The most output bytes one run of a split graph writes. */
  runBytes: 2 * 1024 * 1024,
};

/**
 * How a graph runs over a large batch in several runs: the graph for `batch` images, and which
 * inputs have the images on their first axis (the others, filters and biases, go whole to each
 * run). The output's first axis is the batch. `build` returns null where it cannot.
 */
export interface BatchSplit {
  readonly inputs: readonly string[];
  readonly build: (batch: number) => OnnxGraph | null;
}

/** The runs an output of `outBytes` over `batch` images is written in: [images per run, runs]. */
export function batchRuns(batch: number, outBytes: number): [number, number] {
  if (outBytes <= runLimits.splitAboveBytes) return [batch, 1];
  const runs = Math.min(batch, Math.max(1, Math.ceil(outBytes / runLimits.runBytes)));
  const per = Math.ceil(batch / runs);
  return [per, Math.ceil(batch / per)];
}

/**
 * Runs graph `key` on float32 `inputs`, writing its one output into a new tfjs tensor. With
 * `split`, an output larger than `runLimits.splitAboveBytes` is written in several runs over slices
 * of the batch (a session for the full runs' size, and one for a smaller last run).
 */
export function runGraph(
  ops: KernelOps,
  key: string,
  build: () => OnnxGraph,
  inputs: Record<string, TensorInfo>,
  outputName: string,
  outShape: readonly number[],
  split?: BatchSplit,
): TensorInfo {
  const batch = outShape[0] as number;
  const size = outShape.reduce((a, b) => a * b, 1);
  const [per, runs] = split ? batchRuns(batch, size * 4) : [batch, 1];
  const sessionFor = (images: number) => {
    if (images === batch) return session(key, build);
    const graph = (split as BatchSplit).build(images);
    return graph && session(`${key} [${images} of ${batch}]`, () => graph);
  };
  const plan: { images: number; compiled: ReturnType<typeof session> }[] = [];
  for (let r = 0; r < runs; r++) {
    const images = Math.min(per, batch - r * per);
    const last = plan[plan.length - 1];
    const compiled = last?.images === images ? last.compiled : sessionFor(images);
    if (compiled == null) return runGraph(ops, key, build, inputs, outputName, outShape);
    plan.push({ images, compiled });
  }
  const ort = (activeRuntime() as Runtime).ort;
  const out = ops.alloc(outShape);
  try {
    // Views are taken after the allocation: on wasm, growing the heap detaches older views.
    const values = Object.entries(inputs).map(([name, info]) => [name, ops.values(info)] as const);
    const target = ops.values(out);
    let image = 0;
    for (const { images, compiled } of plan) {
      const { session: s, dims } = compiled;
      // Fed under the dims the graph declares: the same elements, possibly as blocked NCHW dims
      // over NHWC memory (see blocked-conv.ts).
      const feeds: Record<string, unknown> = {};
      let slot = 1;
      for (const [name, all] of values) {
        const batched = runs > 1 && (split as BatchSplit).inputs.includes(name);
        const perImage = all.length / batch;
        const part = batched ? all.subarray(image * perImage, (image + images) * perImage) : all;
        const shape = (inputs[name] as TensorInfo).shape;
        const d = dims.get(name) ?? (batched ? [images, ...shape.slice(1)] : shape);
        feeds[name] = new ort.Tensor("float32", unshared(part, slot++), d);
      }
      const perImage = size / batch;
      const dst =
        runs > 1 ? target.subarray(image * perImage, (image + images) * perImage) : target;
      // The output's buffer only: ONNX Runtime writes all of it (its old contents are garbage).
      const result = unshared(dst, 0, false);
      const outDims = dims.get(outputName) ?? [images, ...outShape.slice(1)];
      s.run(feeds, { [outputName]: new ort.Tensor("float32", result, outDims) }, {});
      if (result !== dst) dst.set(result);
      image += images;
    }
  } catch (err) {
    ops.dispose(out);
    throw err;
  }
  return out;
}
