// Sum and Mean over the leading axes (NHWC -> C), as BatchNorm and its gradient reduce every
// activation, and as a layer's bias gradient sums dy. wasm's and cpu's own kernels first
// transpose the reduced axes innermost, a full copy per call; here each row is added straight
// into a float64 accumulator, or on wasm (channels in fours) by the SIMD sums of wasm-simd.ts.
import { type KernelBackend, type KernelFunc, type TensorInfo, util } from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type KernelBackendName, kernelOps } from "./kernel-ops.js";
import { SIMD_MAX_CHANNELS, simdChannelSums } from "./wasm-simd.js";

interface ReduceAttrs {
  axis: number | number[];
  keepDims: boolean;
}

/** The number of leading axes `axis` names, or -1 when it is not exactly [0, 1, ..., k-1]. */
export function leadingAxisCount(axis: number | number[], rank: number): number {
  const axes = [...new Set(util.parseAxisParam(axis, new Array<number>(rank).fill(1)))].sort(
    (a, b) => a - b,
  );
  return axes.every((a, i) => a === i) ? axes.length : -1;
}

function makeReduction(
  backendName: KernelBackendName,
  fallback: KernelFunc | undefined,
  mean: boolean,
): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as ReduceAttrs;
    const rank = x.shape.length;
    const k = leadingAxisCount(axis, rank);
    if (x.dtype !== "float32" || k <= 0 || util.sizeFromShape(x.shape) === 0) {
      if (fallback) return fallback(args);
      throw new BackendError(
        "unsupported_reduction",
        `${mean ? "Mean" : "Sum"} on '${backendName}': expected float32 reduced over leading axes, got ${x.dtype} [${x.shape}] over axis ${JSON.stringify(axis)}`,
      );
    }
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const rows = util.sizeFromShape(x.shape.slice(0, k));
    const inner = util.sizeFromShape(x.shape.slice(k));
    const outShape = keepDims ? x.shape.map((d, i) => (i < k ? 1 : d)) : x.shape.slice(k);
    const out = ops.alloc(outShape);
    const scale = mean ? 1 / rows : 1;
    const simd =
      inner % 4 === 0 && inner <= SIMD_MAX_CHANNELS && ops.address ? (ops.simd?.() ?? null) : null;
    if (simd) {
      // wasm: the BatchNorm kernels' SIMD sums (float32 within a tile of rows, float64 across
      // tiles). A layer's bias gradient (dy summed over N, H, W) is one of these: fastResNet's
      // stem over [1024, 31, 31, 24] took 81.8 ms in the JavaScript loop below, 11.5 ms so.
      const sums = new Float64Array(inner);
      const squares = new Float64Array(inner);
      const at = (ops.address as (t: TensorInfo) => number)(x);
      simdChannelSums(simd, at, 0, rows, inner, new Float64Array(inner), sums, squares);
      const ov = ops.values(out);
      for (let j = 0; j < inner; j++) ov[j] = (sums[j] as number) * scale;
      return out;
    }
    const xv = ops.values(x);
    // Rows are summed `group` at a time into one long accumulator, so the hot loop runs over
    // hundreds of elements even when a row is short (BatchNorm over 16 channels: 16 per row).
    const group = Math.max(1, Math.min(rows, Math.floor(1024 / inner)));
    const span = group * inner;
    const acc = new Float64Array(span);
    const whole = Math.floor(rows / group) * span;
    for (let base = 0; base < whole; base += span) {
      for (let t = 0; t < span; t++) acc[t] = (acc[t] as number) + (xv[base + t] as number);
    }
    for (let t = 0; whole + t < rows * inner; t++)
      acc[t] = (acc[t] as number) + (xv[whole + t] as number);
    const ov = ops.values(out);
    for (let j = 0; j < inner; j++) {
      let total = 0;
      for (let g = 0; g < group; g++) total += acc[g * inner + j] as number;
      ov[j] = total * scale;
    }
    return out;
  };
}

export function makeSum(
  backendName: KernelBackendName,
  fallback: KernelFunc | undefined,
): KernelFunc {
  return makeReduction(backendName, fallback, false);
}

export function makeMean(
  backendName: KernelBackendName,
  fallback: KernelFunc | undefined,
): KernelFunc {
  return makeReduction(backendName, fallback, true);
}
