import "@tensorflow/tfjs-backend-cpu";
import { clipByGlobalNorm, L2_NORMS_KERNEL } from "@cnnkit/optim";
import { L2_NORMS } from "@cnnkit/optim/kernel-names";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededValues } from "../test/conv-check.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

const grads = () => ({
  a: tf.tensor(seededValues(72, 1), [3, 3, 2, 4]),
  b: tf.tensor(seededValues(8, 2), [8]),
  c: tf.tensor(seededValues(1000, 3), [10, 100]),
});

function clip(maxNorm: number) {
  const g = grads();
  const r = clipByGlobalNorm(g, maxNorm);
  const out = {
    totalNorm: r.totalNorm,
    clipped: r.clipped,
    grads: Object.fromEntries(
      Object.entries(r.grads).map(([k, t]) => [k, Array.from(t.dataSync())]),
    ),
  };
  tf.dispose([...Object.values(g), ...Object.values(r.grads)]);
  return out;
}

describe.each(["cpu", "wasm"] as const)("the L2 norms kernel on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { trainingKernels: false, onnxruntime: false });
  });
  afterAll(() => unregisterTrainingKernels());

  it("is the kernel @cnnkit/optim's clipByGlobalNorm asks for", () => {
    expect(L2_NORMS).toBe(L2_NORMS_KERNEL);
  });

  it.each([0.5, 1e6])(
    "gives clipByGlobalNorm (maxNorm %s) the norm and gradients of tf.norm, to 1e-6",
    (maxNorm) => {
      unregisterTrainingKernels();
      const reference = clip(maxNorm);
      registerTrainingKernels();
      const before = tf.memory().numTensors;
      const fused = clip(maxNorm);
      expect(tf.memory().numTensors).toBe(before);
      expect(Math.abs(fused.totalNorm - reference.totalNorm)).toBeLessThan(
        1e-6 * reference.totalNorm,
      );
      expect(fused.clipped).toBe(reference.clipped);
      expect(fused.clipped).toBe(maxNorm < reference.totalNorm);
      for (const [k, v] of Object.entries(reference.grads)) {
        const f = fused.grads[k] as number[];
        for (let i = 0; i < v.length; i++) {
          expect(Math.abs((f[i] as number) - (v[i] as number))).toBeLessThan(
            1e-6 * Math.abs(v[i] as number) + 1e-12,
          );
        }
      }
    },
  );

  it("computes every norm in one kernel, and finds a non-finite gradient by name", async () => {
    registerTrainingKernels();
    const g = grads();
    const info = await tf.profile(() => {
      const r = clipByGlobalNorm(g, 1);
      tf.dispose(Object.values(r.grads));
    });
    const names = info.kernels.map((k) => k.name);
    expect(names.filter((n) => n === L2_NORMS)).toHaveLength(1);
    expect(names).not.toContain("Sqrt");
    const bad = { ...g, b: tf.tensor1d([1, Number.POSITIVE_INFINITY]) };
    expect(() => clipByGlobalNorm(bad, 1)).toThrow(/non-finite norm in "b"/);
    tf.dispose([...Object.values(g), bad.b]);
  });

  it("says what it expected when given other tensors", () => {
    registerTrainingKernels();
    const f = tf.ones([4]);
    const i = tf.ones([2], "int32");
    expect(() => tf.engine().runKernel(L2_NORMS, { 0: f, 1: i }, {})).toThrow(
      /CnnkitL2Norms on '(cpu|wasm)': expected float32 tensors, got int32 \[2\] at input 1/,
    );
    tf.dispose([f, i]);
  });
});
