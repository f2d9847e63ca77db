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
// Two passes over the activations each way, the least these formulas allow.
import {
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  type BatchNormTrainingAttrs,
  type BatchNormTrainingGradAttrs,
  type BatchNormTrainingGradInputs,
  type BatchNormTrainingInputs,
} from "@cnnkit/resnet/kernel-names";
import type { KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type KernelBackendName, type KernelOps, kernelOps } from "./kernel-ops.js";
import {
  SIMD_MAX_CHANNELS,
  type SimdLoops,
  simdChannelAffine,
  simdChannelSums,
} from "./wasm-simd.js";

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

// The loops below are shaped by measurement (Node 20, 2-core EPYC, 0.5-4 M floats per tensor):
// a channel-inner loop that accumulates into Float64Array[c] costs ~7 ns per element (a load and
// a store per element); four channels at a time with local accumulators ~2 ns, which is what
// a plain streaming pass over this memory costs. Rows go in tiles of ROWS so that, with many
// channels, the 4-channel groups re-read a tile from cache rather than from memory.
const ROWS = 128;

/**
 * Per channel c of v (viewed as [M, C]): a[c] += Σ v - shift[c], b[c] += Σ (v - shift[c])·w, with
 * w = v (squares) when `w` is omitted, else the matching element of `w`.
 */
function channelSums(
  v: Float32Array,
  w: Float32Array | null,
  C: number,
  shift: Float64Array,
  a: Float64Array,
  b: Float64Array,
): void {
  const M = v.length / C;
  for (let r0 = 0; r0 < M; r0 += ROWS) {
    const end = Math.min(M, r0 + ROWS) * C;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const k0 = shift[c] as number;
      const k1 = shift[c + 1] as number;
      const k2 = shift[c + 2] as number;
      const k3 = shift[c + 3] as number;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      if (w === null) {
        for (let i = r0 * C + c; i < end; i += C) {
          const v0 = (v[i] as number) - k0;
          const v1 = (v[i + 1] as number) - k1;
          const v2 = (v[i + 2] as number) - k2;
          const v3 = (v[i + 3] as number) - k3;
          a0 += v0;
          a1 += v1;
          a2 += v2;
          a3 += v3;
          b0 += v0 * v0;
          b1 += v1 * v1;
          b2 += v2 * v2;
          b3 += v3 * v3;
        }
      } else {
        for (let i = r0 * C + c; i < end; i += C) {
          const w0 = w[i] as number;
          const w1 = w[i + 1] as number;
          const w2 = w[i + 2] as number;
          const w3 = w[i + 3] as number;
          a0 += w0;
          a1 += w1;
          a2 += w2;
          a3 += w3;
          b0 += w0 * ((v[i] as number) - k0);
          b1 += w1 * ((v[i + 1] as number) - k1);
          b2 += w2 * ((v[i + 2] as number) - k2);
          b3 += w3 * ((v[i + 3] as number) - k3);
        }
      }
      a[c] = (a[c] as number) + a0;
      a[c + 1] = (a[c + 1] as number) + a1;
      a[c + 2] = (a[c + 2] as number) + a2;
      a[c + 3] = (a[c + 3] as number) + a3;
      b[c] = (b[c] as number) + b0;
      b[c + 1] = (b[c + 1] as number) + b1;
      b[c + 2] = (b[c + 2] as number) + b2;
      b[c + 3] = (b[c + 3] as number) + b3;
    }
    for (; c < C; c++) {
      const k = shift[c] as number;
      let s = 0;
      let q = 0;
      for (let i = r0 * C + c; i < end; i += C) {
        const d = (v[i] as number) - k;
        const wi = w === null ? d : (w[i] as number);
        s += w === null ? d : wi;
        q += wi * d;
      }
      a[c] = (a[c] as number) + s;
      b[c] = (b[c] as number) + q;
    }
  }
}

/** out = p[c]·u + q[c]·v + r[c] elementwise over [M, C] (u may be null: p·u is then left out). */
function channelAffine(
  out: Float32Array,
  u: Float32Array | null,
  v: Float32Array,
  C: number,
  p: Float64Array,
  q: Float64Array,
  r: Float64Array,
): void {
  const M = v.length / C;
  for (let r0 = 0; r0 < M; r0 += ROWS) {
    const end = Math.min(M, r0 + ROWS) * C;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const p0 = p[c] as number;
      const p1 = p[c + 1] as number;
      const p2 = p[c + 2] as number;
      const p3 = p[c + 3] as number;
      const q0 = q[c] as number;
      const q1 = q[c + 1] as number;
      const q2 = q[c + 2] as number;
      const q3 = q[c + 3] as number;
      const r0c = r[c] as number;
      const r1c = r[c + 1] as number;
      const r2c = r[c + 2] as number;
      const r3c = r[c + 3] as number;
      if (u === null) {
        for (let i = r0 * C + c; i < end; i += C) {
          out[i] = q0 * (v[i] as number) + r0c;
          out[i + 1] = q1 * (v[i + 1] as number) + r1c;
          out[i + 2] = q2 * (v[i + 2] as number) + r2c;
          out[i + 3] = q3 * (v[i + 3] as number) + r3c;
        }
      } else {
        for (let i = r0 * C + c; i < end; i += C) {
          out[i] = p0 * (u[i] as number) + q0 * (v[i] as number) + r0c;
          out[i + 1] = p1 * (u[i + 1] as number) + q1 * (v[i + 1] as number) + r1c;
          out[i + 2] = p2 * (u[i + 2] as number) + q2 * (v[i + 2] as number) + r2c;
          out[i + 3] = p3 * (u[i + 3] as number) + q3 * (v[i + 3] as number) + r3c;
        }
      }
    }
    for (; c < C; c++) {
      const pc = p[c] as number;
      const qc = q[c] as number;
      const rc = r[c] as number;
      for (let i = r0 * C + c; i < end; i += C) {
        out[i] = (u === null ? 0 : pc * (u[i] as number)) + qc * (v[i] as number) + rc;
      }
    }
  }
}

/** The WebAssembly SIMD loops, where they apply: wasm, channels in fours (wasm-simd.ts). */
function simdFor(ops: KernelOps, C: number): SimdLoops | null {
  if (C % 4 !== 0 || C > SIMD_MAX_CHANNELS) return null;
  return ops.simd?.() ?? null;
}

export function makeBatchNormTraining(backendName: KernelBackendName): KernelFunc {
  return (args) => {
    const { x, gamma, beta } = args.inputs as BatchNormTrainingInputs;
    const { epsilon } = args.attrs as BatchNormTrainingAttrs;
    const C = channelsOf(x, BATCH_NORM_TRAINING, backendName);
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const y = ops.alloc(x.shape);
    const meanOut = ops.alloc([C]);
    const varOut = ops.alloc([C]);
    // Views after every alloc: on wasm an allocation may grow (and detach) the heap.
    const xv = ops.values(x);
    const M = xv.length / C;
    // One pass: sums of (x - k) and (x - k)² with k = the first row, so the variance formula
    // E[(x-k)²] - E[x-k]² cannot cancel catastrophically when |mean| >> std.
    const shift = Float64Array.from(xv.subarray(0, C));
    const s1 = new Float64Array(C);
    const s2 = new Float64Array(C);
    const simd = simdFor(ops, C);
    const at = (t: TensorInfo) => (ops.address as (t: TensorInfo) => number)(t);
    if (simd) simdChannelSums(simd, at(x), 0, M, C, shift, s1, s2);
    else channelSums(xv, null, C, shift, s1, s2);
    const mean = new Float64Array(C);
    const variance = new Float64Array(C);
    const g = ops.values(gamma);
    const b = ops.values(beta);
    const scale = new Float64Array(C);
    const offset = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const d = (s1[c] as number) / M;
      mean[c] = (shift[c] as number) + d;
      variance[c] = Math.max(0, (s2[c] as number) / M - d * d);
      scale[c] = (g[c] as number) / Math.sqrt((variance[c] as number) + epsilon);
      offset[c] = (b[c] as number) - (mean[c] as number) * (scale[c] as number);
    }
    if (simd) simdChannelAffine(simd, at(y), 0, at(x), M, C, scale, scale, offset);
    else channelAffine(ops.values(y), null, xv, C, scale, scale, offset);
    ops.values(meanOut).set(mean);
    ops.values(varOut).set(variance);
    return [y, meanOut, varOut];
  };
}

export function makeBatchNormTrainingGrad(backendName: KernelBackendName): KernelFunc {
  return (args) => {
    const { dy, x, mean, variance, gamma } = args.inputs as BatchNormTrainingGradInputs;
    const { epsilon } = args.attrs as BatchNormTrainingGradAttrs;
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
    const simd = simdFor(ops, C);
    const at = (t: TensorInfo) => (ops.address as (t: TensorInfo) => number)(t);
    if (simd) simdChannelSums(simd, at(x), at(dy), M, C, mu, sumDy, sumDyXc);
    else channelSums(xv, dyv, C, mu, sumDy, sumDyXc);
    // dx = gamma·inv·(dy - Σdy/M - x̂·Σ(dy·x̂)/M), x̂ = (x - mean)·inv, as k1·dy + k2·x + k3.
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
      k3[c] = (-gi * (sumDy[c] as number)) / M - (k2[c] as number) * (mu[c] as number);
    }
    // Pass 2.
    if (simd) simdChannelAffine(simd, at(dx), at(dy), at(x), M, C, k1, k2, k3);
    else channelAffine(ops.values(dx), dyv, xv, C, k1, k2, k3);
    ops.values(dGammaOut).set(dGamma);
    ops.values(dBetaOut).set(sumDy);
    return [dx, dGammaOut, dBetaOut];
  };
}
