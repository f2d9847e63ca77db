import "@tensorflow/tfjs-backend-cpu";
import { GELU_KERNELS, gelu } from "@cnnkit/resnet";
import { GELU, GELU_GRAD } from "@cnnkit/resnet/kernel-names";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeGelu, makeGeluGrad } from "./gelu.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

beforeAll(async () => {
  await useBackend("wasm", { threads: 2 });
  registerTrainingKernels();
});
afterAll(() => unregisterTrainingKernels());

/** Values that exercise every branch: both erf forms, the clamp at 4, huge, tiny, ±0, ±∞, NaN. */
function inputs(n: number): Float32Array {
  const edges = [0, -0, 1e-45, -1e-40, 0.999, 1, -1, 3.99, 4, -4.5, 9, -9, 20, -20, 1e30, -1e30];
  const special = [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // A smooth sweep of [-8, 8] interleaved with the edges.
    out[i] = i % 7 === 3 ? (edges[i % edges.length] as number) : -8 + (16 * i) / n;
  }
  // At the front: the tail (n mod 4, last) then holds ordinary values.
  special.forEach((v, j) => {
    if (j < n - 2) out[j] = v;
  });
  return out;
}

/** tfjs-layers' gelu activation and its autodiff gradient, for dy, on the active backend. */
function composition(x: tf.Tensor, dy: tf.Tensor): [Float32Array, Float32Array] {
  const layer = tfl.layers.activation({ activation: "gelu" });
  return tf.tidy(() => {
    const f = (t: tf.Tensor) => layer.apply(t) as tf.Tensor;
    return [f(x).dataSync() as Float32Array, tf.grad(f)(x, dy).dataSync() as Float32Array];
  });
}

function fused(x: tf.Tensor, dy: tf.Tensor): [Float32Array, Float32Array] {
  return tf.tidy(() => [
    gelu(x).dataSync() as Float32Array,
    tf.grad(gelu)(x, dy).dataSync() as Float32Array,
  ]);
}

/** Indices where a and b are not the same float (every NaN counts as the same). */
function differences(a: Float32Array, b: Float32Array): number[] {
  const ai = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const bi = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue;
    if (ai[i] !== bi[i]) out.push(i);
  }
  return out;
}

describe("GELU kernels on wasm", () => {
  it("are registered on wasm, and resnet's gelu runs them there", () => {
    expect(tf.getBackend()).toBe("wasm");
    expect(GELU_KERNELS).toEqual({ forward: GELU, gradient: GELU_GRAD });
    expect(tf.getKernel(GELU, "wasm")).toBeDefined();
    expect(tf.getKernel(GELU_GRAD, "wasm")).toBeDefined();
    expect(tf.getKernel(GELU, "cpu")).toBeUndefined();
  });

  // 3, 7, 4099 and 4103: the tail of n mod 8 floats (the loops take 8 a step, see UNROLL); 300,001:
  // many pieces, shared with the helper thread.
  it.each([3, 7, 4099, 4103, 300_001])(
    "return the composition's bits, value and gradient, over %i floats",
    (n) => {
      const x = tf.tensor1d(inputs(n));
      const dy = tf.tensor1d(inputs(n).map((v, i) => (i % 5) - 2 + v / 16));
      const [y0, dx0] = composition(x, dy);
      const [y1, dx1] = fused(x, dy);
      expect(differences(y1, y0)).toEqual([]);
      expect(differences(dx1, dx0)).toEqual([]);
      tf.dispose([x, dy]);
    },
  );

  it("without the SIMD loops, compose the backend's own kernels: the same bits again", () => {
    const x = tf.tensor2d(inputs(4099), [1, 4099]);
    const dy = tf.onesLike(x);
    const backend = tf.backend();
    const run = (f: tf.KernelFunc, inputs: tf.NamedTensorInfoMap) => {
      const info = f({ inputs, attrs: {}, backend }) as tf.TensorInfo;
      return tf.engine().makeTensorFromTensorInfo(info);
    };
    const y = run(makeGelu("wasm", undefined, { simd: false }), { x });
    const dx = run(makeGeluGrad("wasm", undefined, { simd: false }), { dy, x });
    const [y0, dx0] = composition(x, dy);
    expect(differences(y.dataSync() as Float32Array, y0)).toEqual([]);
    expect(differences(dx.dataSync() as Float32Array, dx0)).toEqual([]);
    tf.dispose([x, dy, y, dx]);
  });

  it("agree with the cpu backend's composition to float32 rounding", async () => {
    const values = Float32Array.from({ length: 2001 }, (_, i) => -10 + i / 100);
    const grads = Float32Array.from(values, (v) => 1 - v / 20);
    const on = (backend: string) => {
      tf.setBackend(backend);
      const x = tf.tensor1d(values);
      const dy = tf.tensor1d(grads);
      const r = backend === "wasm" ? fused(x, dy) : composition(x, dy);
      tf.dispose([x, dy]);
      return r;
    };
    const [yw, dxw] = on("wasm");
    const [yc, dxc] = on("cpu");
    await tf.setBackend("wasm");
    for (let i = 0; i < values.length; i++) {
      // cpu's erf is Abramowitz-Stegun 7.1.26 (1.5e-7 absolute); ours is within 1 ulp.
      expect(Math.abs((yw[i] as number) - (yc[i] as number))).toBeLessThan(
        2e-6 * (1 + Math.abs(values[i] as number)),
      );
      expect(Math.abs((dxw[i] as number) - (dxc[i] as number))).toBeLessThan(5e-6);
    }
  });

  it("refuse non-float32 input and dy of another shape, naming the kernel", () => {
    const backend = tf.backend();
    const x = tf.tensor1d([1, 2], "int32");
    const f = tf.tensor1d([1, 2, 3]);
    const g = tf.tensor1d([1, 2]);
    expect(() => makeGelu("wasm")({ inputs: { x }, attrs: {}, backend })).toThrow(
      /CnnkitGelu on 'wasm': expected float32 x, got int32/,
    );
    expect(() => makeGeluGrad("wasm")({ inputs: { dy: g, x: f }, attrs: {}, backend })).toThrow(
      /CnnkitGeluGrad on 'wasm': dy \[2\] and x \[3\] differ in shape/,
    );
    tf.dispose([x, f, g]);
  });
});
