// Training-mode BatchNorm as two fused kernels for the JS-hosted backends (cpu, wasm), one pass
// structure each instead of the ~15 elementwise kernels and reductions tfjs composes:
//
//   BATCH_NORM_TRAINING       x [..., C], gamma [C], beta [C]; attrs { epsilon }
//                             → y, mean [C], variance [C] (biased, as tf.moments)
//   BATCH_NORM_TRAINING_GRAD  dy, x, mean, variance, gamma; attrs { epsilon }
//                             → dx, dgamma [C], dbeta [C]
//
// `@cnnkit/resnet`'s `batchNormTraining` runs these when the active backend has them and the
// same formulas as tfjs ops otherwise (webgl, tensorflow), so any backend can add its own.
// Sums accumulate in float64 (tfjs's float32 reductions round more), then results are float32.
import type { KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type KernelBackendName, kernelOps } from "./kernel-ops.js";

/** The kernel names, shared with `@cnnkit/resnet` (which spells the same strings). */
export const BATCH_NORM_TRAINING = "CnnkitBatchNormTraining";
export const BATCH_NORM_TRAINING_GRAD = "CnnkitBatchNormTrainingGrad";

interface Attrs {
  epsilon: number;
}

function channelsOf(x: TensorInfo, name: string, backendName: string): number {
  const c = x.shape[x.shape.length - 1];
  if (x.dtype !== "float32" || c == null || c === 0) {
    throw new BackendError(
      "unsupported_tensor",
      `${name} on '${backendName}': expected a float32 tensor with channels last, got ${x.dtype} [${x.shape}]`,
    );
  }
  return c;
}

/** Per-channel mean and biased variance of x viewed as [M, C], two passes in float64. */
function moments(
  xv: Float32Array,
  C: number,
): { mean: Float64Array; variance: Float64Array; M: number } {
  const M = xv.length / C;
  const mean = new Float64Array(C);
  for (let i = 0; i < xv.length; i += C) {
    for (let c = 0; c < C; c++) mean[c] = (mean[c] as number) + (xv[i + c] as number);
  }
  for (let c = 0; c < C; c++) mean[c] = (mean[c] as number) / M;
  const variance = new Float64Array(C);
  for (let i = 0; i < xv.length; i += C) {
    for (let c = 0; c < C; c++) {
      const d = (xv[i + c] as number) - (mean[c] as number);
      variance[c] = (variance[c] as number) + d * d;
    }
  }
  for (let c = 0; c < C; c++) variance[c] = (variance[c] as number) / M;
  return { mean, variance, M };
}

export function makeBatchNormTraining(backendName: KernelBackendName): KernelFunc {
  return (args) => {
    const { x, gamma, beta } = args.inputs as {
      x: TensorInfo;
      gamma: TensorInfo;
      beta: TensorInfo;
    };
    const { epsilon } = args.attrs as unknown as Attrs;
    const C = channelsOf(x, BATCH_NORM_TRAINING, backendName);
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const y = ops.alloc(x.shape);
    const meanOut = ops.alloc([C]);
    const varOut = ops.alloc([C]);
    // Views after every alloc: on wasm an allocation may grow (and detach) the heap.
    const xv = ops.values(x);
    const { mean, variance } = moments(xv, C);
    const g = ops.values(gamma);
    const b = ops.values(beta);
    const scale = new Float64Array(C);
    const shift = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      scale[c] = (g[c] as number) / Math.sqrt((variance[c] as number) + epsilon);
      shift[c] = (b[c] as number) - (mean[c] as number) * (scale[c] as number);
    }
    const yv = ops.values(y);
    for (let i = 0; i < xv.length; i += C) {
      for (let c = 0; c < C; c++) {
        yv[i + c] = (xv[i + c] as number) * (scale[c] as number) + (shift[c] as number);
      }
    }
    ops.values(meanOut).set(mean);
    ops.values(varOut).set(variance);
    return [y, meanOut, varOut];
  };
}

export function makeBatchNormTrainingGrad(backendName: KernelBackendName): KernelFunc {
  return (args) => {
    const { dy, x, mean, variance, gamma } = args.inputs as Record<
      "dy" | "x" | "mean" | "variance" | "gamma",
      TensorInfo
    >;
    const { epsilon } = args.attrs as unknown as Attrs;
    const C = channelsOf(x, BATCH_NORM_TRAINING_GRAD, backendName);
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const dx = ops.alloc(x.shape);
    const dGammaOut = ops.alloc([C]);
    const dBetaOut = ops.alloc([C]);
    const xv = ops.values(x);
    const dyv = ops.values(dy);
    const mu = Float64Array.from(ops.values(mean));
    const v = ops.values(variance);
    const g = ops.values(gamma);
    const M = xv.length / C;
    // Pass 1: Σ dy and Σ dy·(x - mean) per channel.
    const sumDy = new Float64Array(C);
    const sumDyXc = new Float64Array(C);
    for (let i = 0; i < xv.length; i += C) {
      for (let c = 0; c < C; c++) {
        const d = dyv[i + c] as number;
        sumDy[c] = (sumDy[c] as number) + d;
        sumDyXc[c] = (sumDyXc[c] as number) + d * ((xv[i + c] as number) - (mu[c] as number));
      }
    }
    // dx = gamma·inv·(dy - Σdy/M - x̂·Σ(dy·x̂)/M) with x̂ = (x - mean)·inv, as k1·dy + k2·(x - mean) + k3.
    const k1 = new Float64Array(C);
    const k2 = new Float64Array(C);
    const k3 = new Float64Array(C);
    const dGamma = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const inv = 1 / Math.sqrt((v[c] as number) + epsilon);
      const gi = (g[c] as number) * inv;
      dGamma[c] = (sumDyXc[c] as number) * inv;
      k1[c] = gi;
      k2[c] = (-gi * inv * (dGamma[c] as number)) / M;
      k3[c] = (-gi * (sumDy[c] as number)) / M;
    }
    const dxv = ops.values(dx);
    for (let i = 0; i < xv.length; i += C) {
      for (let c = 0; c < C; c++) {
        dxv[i + c] =
          (k1[c] as number) * (dyv[i + c] as number) +
          (k2[c] as number) * ((xv[i + c] as number) - (mu[c] as number)) +
          (k3[c] as number);
      }
    }
    ops.values(dGammaOut).set(dGamma);
    ops.values(dBetaOut).set(sumDy);
    return [dx, dGammaOut, dBetaOut];
  };
}
