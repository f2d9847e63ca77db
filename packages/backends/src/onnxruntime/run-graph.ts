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

/** Runs graph `key` on float32 `inputs`, writing its one output into a new tfjs tensor. */
export function runGraph(
  ops: KernelOps,
  key: string,
  build: () => OnnxGraph,
  inputs: Record<string, TensorInfo>,
  outputName: string,
  outShape: readonly number[],
): TensorInfo {
  const { session: s, dims } = session(key, build);
  const ort = (activeRuntime() as Runtime).ort;
  const out = ops.alloc(outShape);
  try {
    // Views are taken after the allocation: on wasm, growing the heap detaches older views.
    // Fed under the dims the graph declares: the same elements, possibly as blocked NCHW dims
    // over NHWC memory (see blocked-conv.ts).
    const feeds: Record<string, unknown> = {};
    let slot = 1;
    for (const [name, info] of Object.entries(inputs)) {
      const d = dims.get(name) ?? info.shape;
      feeds[name] = new ort.Tensor("float32", unshared(ops.values(info), slot++), d);
    }
    const target = ops.values(out);
    // The output's buffer only: ONNX Runtime writes all of it (its old contents are garbage).
    const result = unshared(target, 0, false);
    const outDims = dims.get(outputName) ?? outShape;
    s.run(feeds, { [outputName]: new ort.Tensor("float32", result, outDims) }, {});
    if (result !== target) target.set(result);
  } catch (err) {
    ops.dispose(out);
    throw err;
  }
  return out;
}
