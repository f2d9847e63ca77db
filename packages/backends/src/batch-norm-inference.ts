// BatchNorm at inference (tfjs's FusedBatchNorm: what a BatchNormalization layer runs when not
// training, in every evaluation and test-time-augmentation pass) on wasm as a WebAssembly SIMD loop.
// tfjs-backend-wasm's own kernel is a scalar C++ loop with a division and four modulo index
// updates per float, on one thread: on SmallResNet's inference it took 27% of the time (149 ms of
// 547 per batch of 64, widths 64/128/256; 42% on the narrow net), against ~10 ms of memory traffic.
//
// The loop runs the C++ loop's operations in its order and precision: (x - mean)·scale in
// float32, divided by norm = √(variance + ε) (a float32 square root, held as a double) and offset
// added in float64, then rounded to float32, so the results are the same bits
// (src/batch-norm-inference.test.ts compares them with tfjs's kernel). Where its layout does not
// apply (per-channel values of another size than x's last axis, channels not a multiple of 4, a
// non-float32 input, no SIMD), tfjs's own kernel runs.
import { type KernelBackend, type KernelFunc, type TensorInfo, util } from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type KernelBackendName, kernelOps } from "./kernel-ops.js";
import { SIMD_MAX_CHANNELS, simdBatchNormInference } from "./wasm-simd.js";

interface FusedBatchNormInputs {
  x: TensorInfo;
  mean: TensorInfo;
  variance: TensorInfo;
  offset?: TensorInfo | null;
  scale?: TensorInfo | null;
}

/** FusedBatchNorm on wasm: the SIMD loop where it applies, `fallback` (tfjs's) elsewhere. */
export function makeFusedBatchNorm(
  backendName: KernelBackendName,
  fallback: KernelFunc | undefined,
): KernelFunc {
  return (args) => {
    const { x, mean, variance, offset, scale } = args.inputs as unknown as FusedBatchNormInputs;
    const { varianceEpsilon } = args.attrs as { varianceEpsilon: number };
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const C = x.shape.length > 0 ? (x.shape[x.shape.length - 1] as number) : 0;
    const perChannel = [mean, variance, offset, scale].every(
      (t) => t == null || util.sizeFromShape(t.shape) === C,
    );
    const all = [x, mean, variance, offset, scale];
    const simd =
      perChannel &&
      C > 0 &&
      C % 4 === 0 &&
      C <= SIMD_MAX_CHANNELS &&
      all.every((t) => t == null || t.dtype === "float32")
        ? (ops.simd?.() ?? null)
        : null;
    if (simd == null || ops.address == null) {
      if (fallback) return fallback(args);
      throw new BackendError(
        "missing_kernel",
        `FusedBatchNorm on '${backendName}': expected float32 tensors with per-channel values of x's last axis (a multiple of 4) and the SIMD loops, or a kernel of the backend's own to fall back on`,
      );
    }
    const out = ops.alloc(x.shape);
    const M = util.sizeFromShape(x.shape) / C;
    if (M === 0) return out;
    // The per-channel values, copied out of the heap (C floats each; absent ones filled in).
    const channel = (t: TensorInfo | null | undefined, missing: number) =>
      t == null ? new Float32Array(C).fill(missing) : Float32Array.from(ops.values(t));
    const variances = channel(variance, 0);
    const eps = Math.fround(varianceEpsilon);
    const norm = new Float32Array(C);
    // √ of the float32 sum, rounded to float32: the C++ loop's std::sqrt on a float (Math.sqrt's
    // double result rounds to the same float: a square root's double rounding is harmless).
    for (let c = 0; c < C; c++) norm[c] = Math.sqrt(Math.fround((variances[c] as number) + eps));
    simdBatchNormInference(simd, ops.address(out), ops.address(x), M, C, {
      mean: channel(mean, 0),
      // No scale: 1, no offset: 0 (x·1 and 0 + y are exact, so the bits are the formula's).
      scale: channel(scale, 1),
      norm,
      offset: channel(offset, 0),
    });
    return out;
  };
}
