// Kernels that only move memory, where the backends move more of it than needed. Measured in a
// training step of the tiny (8/16/32) net on wasm, batch 64, before these: the 390 `Identity`
// kernels (the clones autodiff saves for the backward pass) 23 ms, the two `Slice`s (the
// gradient of the stride-2 blocks' zero padding) 18 ms, of ~370 ms of kernels.
//
// - Identity (wasm): tfjs's cpu backend shares the input's memory (a reference count, as wasm's
//   own Reshape does); wasm's copies it. tfjs tensors are immutable, so sharing is safe.
// - Cast to the same dtype (wasm): the same, instead of a copy.
// - Slice (wasm, and cpu's non-contiguous case): the trailing dimensions a slice takes whole are
//   one contiguous run per outer index, copied as a block. wasm's Slice first copies the whole
//   input out of the heap, then copies one innermost row (C floats) at a time; cpu's reads every
//   element through index arithmetic. A [64,34,34,8] → [64,32,32,8] slice: 9 ms → 0.3 ms.
import {
  type backend_util,
  type KernelBackend,
  type KernelFunc,
  slice_util,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type KernelBackendName, kernelOps, type NumericDType } from "./kernel-ops.js";

interface RefCounted extends KernelBackend {
  incRef(dataId: object): void;
}

const numeric = (t: TensorInfo) => t.dtype !== "string" && t.dtype !== "complex64";

/** The backend's own kernel for what these do not handle (strings, complex, other dtypes). */
function orFallback(name: string, backendName: string, fallback: KernelFunc | undefined) {
  if (fallback) return fallback;
  throw new BackendError(
    "missing_kernel",
    `${name} on '${backendName}': no kernel of the backend's own to fall back on`,
  );
}

/** The same tensor under a new reference: no copy. */
function shared(backend: KernelBackend, x: TensorInfo): TensorInfo {
  (backend as RefCounted).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export function makeIdentity(
  backendName: KernelBackendName,
  fallback: KernelFunc | undefined,
): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (backendName === "wasm" && numeric(x)) return shared(args.backend as KernelBackend, x);
    return orFallback("Identity", backendName, fallback)(args);
  };
}

export function makeCast(
  backendName: KernelBackendName,
  fallback: KernelFunc | undefined,
): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { dtype } = args.attrs as unknown as { dtype: string };
    if (backendName === "wasm" && dtype === x.dtype && numeric(x))
      return shared(args.backend as KernelBackend, x);
    return orFallback("Cast", backendName, fallback)(args);
  };
}

/**
 * Copies the slice of `x` (shape `xShape`) starting at `begin` with extent `size` into `out`
 * (row-major). Trailing dimensions taken whole merge into the innermost run, so each run is one
 * block copy.
 */
export function sliceInto(
  xValues: backend_util.TypedArray,
  xShape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
  outValues: backend_util.TypedArray,
): void {
  // One element type for both (the kernel allocates `out` with x's dtype).
  const x = xValues as Float32Array;
  const out = outValues as Float32Array;
  const rank = xShape.length;
  if (rank === 0) {
    out[0] = x[0] as number;
    return;
  }
  // The run: the innermost dimension d0 and every dimension after it that the slice takes whole
  // (begin 0, full extent), merged.
  let d0 = rank - 1;
  let run = size[d0] as number;
  while (d0 > 0 && begin[d0] === 0 && size[d0] === xShape[d0]) {
    d0--;
    run *= size[d0] as number;
  }
  const strides = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--)
    strides[d] = (strides[d + 1] as number) * (xShape[d + 1] as number);
  let start = 0;
  for (let d = 0; d < rank; d++) start += (begin[d] as number) * (strides[d] as number);
  // Outer dimensions 0..d0-1 walk as an odometer; each step copies one run.
  const index = new Array<number>(d0).fill(0);
  let src = start;
  let dst = 0;
  const total = out.length;
  while (dst < total) {
    if (run >= 16) out.set(x.subarray(src, src + run), dst);
    else for (let k = 0; k < run; k++) out[dst + k] = x[src + k] as number;
    dst += run;
    let d = d0 - 1;
    for (; d >= 0; d--) {
      const i = (index[d] as number) + 1;
      if (i < (size[d] as number)) {
        index[d] = i;
        src += strides[d] as number;
        break;
      }
      index[d] = 0;
      src -= (i - 1) * (strides[d] as number);
    }
    if (d < 0) break;
  }
}

export function makeSlice(
  backendName: KernelBackendName,
  fallback: KernelFunc | undefined,
): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { begin, size } = args.attrs as unknown as { begin: number[]; size: number[] };
    const [b, s] = slice_util.parseSliceParams(x as never, begin, size) as [number[], number[]];
    const viewOnCpu = backendName === "cpu" && slice_util.isSliceContinous(x.shape, b, s);
    if (!numeric(x) || viewOnCpu) {
      // cpu answers a contiguous slice with a view (no copy): keep that, and strings.
      return orFallback("Slice", backendName, fallback)(args);
    }
    slice_util.assertParamsValid(x as never, b, s);
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const out = ops.allocTyped(s, x.dtype as NumericDType);
    if (s.every((d) => d > 0)) sliceInto(ops.typedValues(x), x.shape, b, s, ops.typedValues(out));
    return out;
  };
}
