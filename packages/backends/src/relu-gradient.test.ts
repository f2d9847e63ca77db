import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededValues } from "../test/conv-check.js";
import { RELU_GRAD } from "./kernel-names.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

/** d/dx Σ relu(x)·w, and the values it was taken at. */
function reluGrad(values: Float32Array): number[] {
  return tf.tidy(() => {
    const x = tf.tensor1d(values);
    const w = tf.tensor1d(seededValues(values.length, 9));
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), w)))(x);
    // dy·0 is -0 for negative dy; the kernel writes +0: the same zero.
    return Array.from(g.dataSync(), (v) => (Object.is(v, -0) ? 0 : v));
  });
}

// Zeros, negative zero and NaN among the values; lengths that leave 1-3 floats after the SIMD
// loop's groups of four, and one long enough for many.
const special = Float32Array.of(0, -0, Number.NaN, 1e-30, -1e-30, 2, -3);
const CASES = [special, seededValues(4097, 1), seededValues(13, 2), seededValues(2, 3)];

describe.each(["cpu", "wasm"] as const)("ReLU's gradient kernel on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { trainingKernels: false, onnxruntime: false });
  });
  afterAll(() => unregisterTrainingKernels());

  it.each(CASES.map((c, i) => [`case ${i} (${c.length} values)`, c] as const))(
    "%s: equals tfjs's dy·step(x), NaN included",
    (_name, values) => {
      unregisterTrainingKernels();
      const expected = reluGrad(values);
      registerTrainingKernels();
      const before = tf.memory().numTensors;
      const actual = reluGrad(values);
      expect(tf.memory().numTensors).toBe(before);
      expect(actual).toEqual(expected);
    },
  );

  it("is what the Relu gradient runs once registered, and tfjs's again after", async () => {
    const x = tf.tensor1d(seededValues(64, 4));
    const kernelsOf = async () =>
      (await tf.profile(() => tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(x))).kernels.map(
        (k) => k.name,
      );
    registerTrainingKernels();
    const fused = await kernelsOf();
    expect(fused).toContain(RELU_GRAD);
    expect(fused).not.toContain("Step");
    unregisterTrainingKernels();
    const plain = await kernelsOf();
    expect(plain).not.toContain(RELU_GRAD);
    expect(plain).toContain("Step");
    x.dispose();
  });

  it("keeps second-order gradients: d²/dx² Σ relu(x)·x = 2·step(x)", () => {
    registerTrainingKernels();
    const x = tf.tensor1d([-2, -0.5, 0.5, 3]);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), t));
    const g2 = tf.grad((t: tf.Tensor) => tf.sum(tf.grad(f)(t)))(x);
    expect(Array.from(g2.dataSync())).toEqual([0, 0, 2, 2]);
    tf.dispose([x, g2]);
  });
});
