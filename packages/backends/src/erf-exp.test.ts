import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeErf, makeExp } from "./erf-exp.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";
import { simdLoops } from "./wasm-simd.js";

/** erf in float64, to ~1e-14 relative: 2/√π·e^(-x²)·Σ 2ⁿx^(2n+1)/(2n+1)!! (no cancellation). */
function erf64(x: number): number {
  if (Number.isNaN(x)) return x;
  const a = Math.abs(x);
  if (a >= 6) return Math.sign(x); // 1 - erf(6) ≈ 2e-17
  let term = a;
  let sum = a;
  for (let n = 1; n < 300 && term > 1e-17 * sum; n++) {
    term *= (2 * a * a) / (2 * n + 1);
    sum += term;
  }
  const r = (2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum;
  return x < 0 ? -r : r;
}

/** Floats ordered as integers: the distance between two is their distance in ulps. */
const I32 = new Int32Array(1);
const F32 = new Float32Array(I32.buffer);
function ordinal(v: number): number {
  F32[0] = v;
  const i = I32[0] as number;
  return i < 0 ? -(i & 0x7fffffff) : i;
}

/**
 * Inputs over the whole float range: 2^20 bit patterns spread over all 2^32 (every binade of
 * both signs, denormals, ±Infinity, NaNs), a dense grid where the functions change (|x| < 6 for
 * erf, the finite range of exp), and the edges.
 */
function inputs(): Float32Array {
  const bits = new Uint32Array(1 << 20);
  for (let i = 0; i < bits.length; i++) bits[i] = i * 4096 + ((i * 2654435761) >>> 20);
  const spread = new Float32Array(bits.buffer);
  const dense = Float32Array.from({ length: 200_001 }, (_, i) => -6 + (12 * i) / 200_000);
  const expRange = Float32Array.from({ length: 200_001 }, (_, i) => -104 + (193 * i) / 200_000);
  const edges = [
    0,
    -0,
    1e-45,
    -1e-45,
    1e-40,
    -1e-40,
    1.1754943508222875e-38,
    1,
    -1,
    0.99999994,
    1.0000001,
    3.92,
    4,
    4.0000005,
    88.72283,
    88.72284,
    89,
    -87.33654,
    -87.33655,
    -103.27893,
    -103.97208,
    -103.97209,
    -104,
    3.4028234663852886e38,
    -3.4028234663852886e38,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.NaN,
  ];
  return Float32Array.from([...spread, ...dense, ...expRange, ...edges]);
}

describe("Erf and Exp on wasm", () => {
  beforeAll(async () => {
    await useBackend("wasm", { trainingKernels: false, onnxruntime: false });
    expect(simdLoops(tf.backend())).not.toBeNull();
  });
  afterAll(() => unregisterTrainingKernels());

  const apply = (kernel: tf.KernelFunc, x: tf.Tensor): Float32Array => {
    const info = kernel({ inputs: { x }, attrs: {}, backend: tf.backend() }) as tf.TensorInfo;
    const y = tf.engine().makeTensorFromTensorInfo(info);
    expect(y.shape).toEqual(x.shape);
    if (x.dtype === "float32") expect(y.dtype).toBe("float32");
    const values = y.dataSync() as Float32Array;
    y.dispose();
    return values;
  };

  it.each([
    ["Exp", makeExp, Math.exp],
    ["Erf", makeErf, erf64],
  ] as const)("%s: within 1 ulp of float64 over the float range, NaN kept", (name, make, ref) => {
    unregisterTrainingKernels();
    const own = tf.getKernel(name, "wasm")?.kernelFunc;
    if (own == null) throw new Error(`no ${name} on wasm`);
    const xs = inputs();
    const x = tf.tensor1d(xs);
    const before = tf.memory().numTensors;
    const ours = apply(make("wasm", own), x);
    expect(tf.memory().numTensors).toBe(before);
    const theirs = apply(own, x);
    const worst = { ours: 0, theirs: 0 };
    for (let i = 0; i < xs.length; i++) {
      const expected = Math.fround(ref(xs[i] as number));
      const [a, b] = [ours[i] as number, theirs[i] as number];
      if (Number.isNaN(expected)) {
        expect(a, `${name}(${xs[i]})`).toBeNaN();
        continue;
      }
      const ulps = Math.abs(ordinal(a) - ordinal(expected));
      if (ulps > 1) throw new Error(`${name}(${xs[i]}) = ${a}, expected ${expected}: ${ulps} ulps`);
      worst.ours = Math.max(worst.ours, ulps);
      worst.theirs = Math.max(worst.theirs, Math.abs(ordinal(b) - ordinal(expected)));
    }
    // The C library's erff and expf that wasm's own kernels call are within 1 ulp as well.
    expect(worst).toEqual({ ours: 1, theirs: 1 });
    x.dispose();
  });

  it.each([
    ["Exp", makeExp],
    ["Erf", makeErf],
  ] as const)(
    "%s: lengths that leave 1-7 floats after the groups of eight give the same values",
    (name, make) => {
      unregisterTrainingKernels();
      const own = tf.getKernel(name, "wasm")?.kernelFunc;
      const kernel = make("wasm", own);
      const xs = Float32Array.from({ length: 37 }, (_, i) => (i - 18) / 5);
      const whole = apply(kernel, tf.tensor1d(xs));
      for (const n of [1, 2, 3, 4, 5, 6, 7, 9, 12, 15, 33, 34, 35, 36, 37]) {
        expect(Array.from(apply(kernel, tf.tensor1d(xs.subarray(0, n))))).toEqual(
          Array.from(whole.subarray(0, n)),
        );
      }
      expect(apply(kernel, tf.tensor1d([])).length).toBe(0);
      // Integer input: the backend's own kernel (whose Erf returns int32 garbage, tfjs's to fix).
      let fellBack = 0;
      const spy: tf.KernelFunc = (args) => {
        fellBack++;
        return (own as tf.KernelFunc)(args);
      };
      const ints = tf.tensor1d([0, 1], "int32");
      const info = make("wasm", spy)({ inputs: { x: ints }, attrs: {}, backend: tf.backend() });
      tf.dispose([ints, tf.engine().makeTensorFromTensorInfo(info as tf.TensorInfo)]);
      expect(fellBack).toBe(1);
    },
  );

  it("keeps GELU (tfjs-layers' gelu) forward and gradient within 1e-6 of cpu's and wasm's own", async () => {
    // Plain relative error means nothing where x ≪ 0: float32's 1 + erf(x/√2) cancels there, in
    // every backend alike. The scale is the magnitude of the formula's terms instead:
    // |x|·½(1 + |erf(x/√2)|) forward, w·(½(1 + |erf|) + |x|·φ(x)) for the gradient of Σ w·gelu.
    const n = 40_001;
    const xs = Float32Array.from({ length: n }, (_, i) => -10 + (20 * i) / (n - 1));
    const w = Float32Array.from({ length: n }, (_, i) => 0.5 + ((i * 7919) % 1000) / 1000);
    const layer = tfl.layers.activation({ activation: "gelu" });
    const gelu = () =>
      tf.tidy(() => {
        const x = tf.tensor1d(xs);
        const wt = tf.tensor1d(w);
        const f = (t: tf.Tensor) => layer.apply(t) as tf.Tensor;
        const y = f(x).dataSync() as Float32Array;
        const g = tf
          .grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), wt)))(x)
          .dataSync();
        return { y, g: g as Float32Array };
      });
    const scale = { y: new Float64Array(n), g: new Float64Array(n) };
    for (let i = 0; i < n; i++) {
      const x = xs[i] as number;
      const half = 0.5 * (1 + Math.abs(erf64(x / Math.SQRT2)));
      scale.y[i] = Math.abs(x) * half;
      scale.g[i] =
        (w[i] as number) * (half + (Math.abs(x) * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI));
    }
    unregisterTrainingKernels();
    const theirs = gelu();
    const own = ["Erf", "Exp"].map((name) => tf.getKernel(name, "wasm")?.kernelFunc);
    registerTrainingKernels();
    const registered = ["Erf", "Exp"].map((name) => tf.getKernel(name, "wasm")?.kernelFunc);
    expect(registered.every((f, i) => f != null && f !== own[i])).toBe(true);
    const ours = gelu();
    await useBackend("cpu", { trainingKernels: false, onnxruntime: false });
    const cpu = gelu();
    await useBackend("wasm", { trainingKernels: false, onnxruntime: false });
    for (const k of ["y", "g"] as const) {
      for (const [other, label] of [
        [cpu, "cpu"],
        [theirs, "wasm's own"],
      ] as const) {
        let worst = 0;
        for (let i = 0; i < n; i++) {
          const d = Math.abs((ours[k][i] as number) - (other[k][i] as number));
          if (d > 0) worst = Math.max(worst, d / (scale[k][i] as number));
        }
        expect(worst, `${k} against ${label}`).toBeLessThan(1e-6);
      }
    }
  });
});
