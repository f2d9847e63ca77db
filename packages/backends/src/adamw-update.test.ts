import "@tensorflow/tfjs-backend-cpu";
import { ADAMW_UPDATE_KERNEL, AdamW } from "@cnnkit/optim";
import { ADAMW_UPDATE } from "@cnnkit/optim/kernel-names";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededValues, seededVariables } from "../test/conv-check.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

const SHAPES = [[3, 3, 4, 8], [8], [13]];

/**
 * Five AdamW steps on three variables (the second without weight decay), with the learning rate
 * and beta1 changing every step as a OneCycle schedule does; the variables and the optimizer's
 * moments after them, as plain arrays.
 */
function adamwRun(prefix: string) {
  const vars = seededVariables(prefix, SHAPES, 10);
  const optimizer = new AdamW({
    learningRate: 0.01,
    weightDecay: 0.05,
    decayFilter: (name) => !name.endsWith("_w1"),
  });
  for (let step = 0; step < 5; step++) {
    optimizer.learningRate = 0.01 * (1 + step);
    optimizer.beta1 = 0.95 - 0.02 * step;
    const grads: tf.NamedTensorMap = {};
    vars.forEach((v, i) => {
      grads[v.name] = tf.tensor(seededValues(v.size, 100 * step + i), v.shape);
    });
    optimizer.applyGradients(grads);
    tf.dispose(Object.values(grads));
  }
  const values = vars.map((v) => Array.from(v.dataSync()));
  return { values, optimizer, vars };
}

describe.each(["cpu", "wasm"] as const)("the AdamW update kernel on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { trainingKernels: false, onnxruntime: false });
  });
  afterAll(() => unregisterTrainingKernels());

  it("is the kernel @cnnkit/optim's AdamW asks for", () => {
    expect(ADAMW_UPDATE).toBe(ADAMW_UPDATE_KERNEL);
  });

  it("gives @cnnkit/optim's AdamW the values and moments of its tfjs ops, to 1e-5", async () => {
    unregisterTrainingKernels();
    expect(tf.getKernel(ADAMW_UPDATE, backend)).toBeUndefined();
    const start = tf.memory().numTensors;
    const reference = adamwRun(`ref_${backend}`);
    const kept = tf.memory().numTensors - start; // variables, moments, the optimizer's counter
    const refState = await reference.optimizer.getWeights();
    registerTrainingKernels();
    expect(tf.getKernel(ADAMW_UPDATE, backend)).toBeDefined();
    const before = tf.memory().numTensors;
    const fused = adamwRun(`fused_${backend}`);
    // The same tensors left as by the ops (variables, moments): the kernel leaks nothing.
    expect(tf.memory().numTensors).toBe(before + kept);
    const fusedState = await fused.optimizer.getWeights();
    const close = (a: number[], b: number[]) => {
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) {
        // float32 ops round ~14 times per element and step, the kernel once: a few ulp apart
        // after five steps (measured: ≤ 2.3e-6 relative).
        expect(Math.abs((a[i] as number) - (b[i] as number))).toBeLessThan(
          1e-5 * Math.abs(b[i] as number) + 1e-9,
        );
      }
    };
    for (const [i, v] of fused.values.entries()) close(v, reference.values[i] as number[]);
    // The moments m and v, slot by slot (same order: the variables' names differ only in prefix).
    const slots = (state: typeof refState) =>
      state.filter((w) => /\/(m|v)$/.test(w.name)).map((w) => Array.from(w.tensor.dataSync()));
    const [a, b] = [slots(fusedState), slots(refState)];
    expect(a.length).toBe(6);
    for (const [i, slot] of a.entries()) close(slot, b[i] as number[]);
    // and the weights did move (a kernel that returned its inputs would fail the comparison too)
    expect(fused.values[0]).not.toEqual(
      Array.from(seededValues(SHAPES[0]?.reduce((x, y) => x * y, 1) as number, 10)),
    );
    tf.dispose([...reference.vars, ...fused.vars]);
    reference.optimizer.dispose();
    fused.optimizer.dispose();
  });

  it("runs one kernel per variable instead of the op chain", async () => {
    registerTrainingKernels();
    const v = tf.variable(tf.ones([5]), true, `count_${backend}`);
    const optimizer = new AdamW({ learningRate: 0.1 });
    const g = tf.ones([5]);
    const info = await tf.profile(() => optimizer.applyGradients({ [v.name]: g }));
    const names = info.kernels.map((k) => k.name);
    expect(names.filter((n) => n === ADAMW_UPDATE)).toHaveLength(1);
    expect(names).not.toContain("Sqrt");
    tf.dispose([v, g]);
    optimizer.dispose();
  });

  it("says what it expected when given other tensors", () => {
    registerTrainingKernels();
    const f = tf.ones([4]);
    const i = tf.ones([4], "int32");
    const attrs = {
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
      decay: 1,
      stepSize: 0.1,
      sqrtBias2: 1,
    };
    expect(() =>
      tf.engine().runKernel(ADAMW_UPDATE, { value: f, gradient: i, m: f, v: f }, attrs),
    ).toThrow(
      /CnnkitAdamWUpdate on '(cpu|wasm)': expected float32 value, gradient, m and v of one shape, got float32 \[4\], int32 \[4\]/,
    );
    tf.dispose([f, i]);
  });
});
