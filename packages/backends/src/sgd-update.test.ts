import "@tensorflow/tfjs-backend-cpu";
import { SGD, SGD_UPDATE_KERNEL, type SGDOptions } from "@cnnkit/optim";
import { SGD_UPDATE } from "@cnnkit/optim/kernel-names";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededValues, seededVariables } from "../test/conv-check.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

const SHAPES = [[3, 3, 2, 4], [7]];

/**
 * Five SGD steps on two variables (the second without weight decay); `momenta` gives the
 * momentum of each step (a 0 in the middle skips the buffer for that step, as PyTorch does).
 */
function sgdRun(prefix: string, options: SGDOptions, momenta: number[]) {
  // (in a tidy: the initial tensors go, the variables stay)
  const vars = seededVariables(prefix, SHAPES, 20);
  const optimizer = new SGD({ ...options, decayFilter: (name) => !name.endsWith("_w1") });
  for (const [step, momentum] of momenta.entries()) {
    optimizer.learningRate = 0.05 * (1 + step);
    optimizer.momentum = momentum;
    const grads: tf.NamedTensorMap = {};
    for (const [i, v] of vars.entries()) {
      grads[v.name] = tf.tensor(seededValues(v.size, 200 * step + i), v.shape);
    }
    optimizer.applyGradients(grads);
    tf.dispose(Object.values(grads));
  }
  const values = vars.map((v) => Array.from(v.dataSync()));
  tf.dispose(vars);
  optimizer.dispose();
  return values;
}

const CONFIGS: [string, SGDOptions, number[]][] = [
  ["no momentum", { weightDecay: 0.01 }, [0, 0, 0, 0, 0]],
  [
    "momentum, dampening",
    { momentum: 0.9, dampening: 0.2, weightDecay: 0.01 },
    [0.9, 0.85, 0, 0.9, 0.8],
  ],
  ["Nesterov", { momentum: 0.9, nesterov: true, weightDecay: 0.05 }, [0.95, 0.9, 0.85, 0.9, 0.95]],
];

describe.each(["cpu", "wasm"] as const)("the SGD update kernel on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { trainingKernels: false, onnxruntime: false });
  });
  afterAll(() => unregisterTrainingKernels());

  it("is the kernel @cnnkit/optim's SGD asks for", () => {
    expect(SGD_UPDATE).toBe(SGD_UPDATE_KERNEL);
  });

  it.each(CONFIGS)(
    "%s: gives @cnnkit/optim's SGD the values of its tfjs ops, to 1e-6",
    (_name, options, momenta) => {
      unregisterTrainingKernels();
      const start = tf.memory().numTensors;
      const reference = sgdRun(`ref_${backend}_${_name}`, options, momenta);
      expect(tf.memory().numTensors).toBe(start);
      registerTrainingKernels();
      const fused = sgdRun(`fused_${backend}_${_name}`, options, momenta);
      expect(tf.memory().numTensors).toBe(start);
      for (const [k, values] of fused.entries()) {
        const want = reference[k] as number[];
        for (let i = 0; i < values.length; i++) {
          expect(Math.abs((values[i] as number) - (want[i] as number))).toBeLessThan(
            1e-6 * Math.abs(want[i] as number) + 1e-7,
          );
        }
      }
    },
  );

  it("runs one kernel per variable, and says what it expected when given other tensors", async () => {
    registerTrainingKernels();
    const v = tf.variable(tf.ones([5]), true, `count_${backend}`);
    const optimizer = new SGD({ learningRate: 0.1, momentum: 0.9, nesterov: true });
    const g = tf.ones([5]);
    const info = await tf.profile(() => optimizer.applyGradients({ [v.name]: g }));
    expect(info.kernels.map((k) => k.name)).toEqual([SGD_UPDATE]);
    const i = tf.ones([5], "int32");
    const attrs = { learningRate: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false };
    expect(() => tf.engine().runKernel(SGD_UPDATE, { value: v, gradient: i }, attrs)).toThrow(
      /CnnkitSGDUpdate on '(cpu|wasm)': expected float32 value, gradient \(and buffer\) of one shape, got float32 \[5\], int32 \[5\]/,
    );
    tf.dispose([v, g, i]);
    optimizer.dispose();
  });
});
