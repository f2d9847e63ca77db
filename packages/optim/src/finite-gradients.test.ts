import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { AdamW, clipByGlobalNorm, L2_NORMS_KERNEL, OptimError, SGD } from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});
afterEach(() => {
  tf.disposeVariables();
});

/** Two variables and their state after one good step, so the slots exist. */
function setup(make: () => tf.Optimizer) {
  const a = tf.variable(tf.tensor1d([1, 2, 3]), true, "fg/a");
  const b = tf.variable(tf.tensor2d([[4, 5]]), true, "fg/b");
  const optimizer = make();
  optimizer.applyGradients({ "fg/a": tf.ones([3]), "fg/b": tf.ones([1, 2]) });
  return { a, b, optimizer };
}

async function snapshot(optimizer: tf.Optimizer, vars: tf.Variable[]) {
  const weights = await optimizer.getWeights();
  return {
    vars: vars.map((v) => Array.from(v.dataSync())),
    state: weights.map((w) => [w.name, Array.from(w.tensor.dataSync())]),
    iterations: optimizer.iterations,
  };
}

/** A stand-in for @cnnkit/backends' CnnkitL2Norms on cpu (float64 sums, as the real one). */
function registerL2Norms(): { calls: number; unregister(): void } {
  const counter = { calls: 0 };
  type Backend = {
    readSync(dataId: object): Float32Array;
    makeTensorInfo(shape: number[], dtype: "float32", values: Float32Array): tf.TensorInfo;
  };
  tf.registerKernel({
    kernelName: L2_NORMS_KERNEL,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend }) => {
      counter.calls++;
      const b = backend as unknown as Backend;
      const keys = Object.keys(inputs).sort((x, y) => Number(x) - Number(y));
      const out = new Float32Array(keys.length);
      keys.forEach((k, i) => {
        let s = 0;
        for (const x of b.readSync((inputs[k] as tf.TensorInfo).dataId)) s += x * x;
        out[i] = Math.sqrt(s);
      });
      return b.makeTensorInfo([keys.length], "float32", out);
    },
  });
  return {
    get calls() {
      return counter.calls;
    },
    unregister: () => tf.unregisterKernel(L2_NORMS_KERNEL, "cpu"),
  };
}

const OPTIMIZERS: [string, () => tf.Optimizer][] = [
  ["SGD", () => new SGD({ learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
  ["AdamW", () => new AdamW({ learningRate: 0.1 })],
];

describe("an optimizer step with a NaN or Infinity in a gradient", () => {
  for (const fused of [false, true]) {
    for (const [name, make] of OPTIMIZERS) {
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        it(`${name} (${fused ? "L2-norms kernel" : "tfjs ops"}) refuses ${bad}, naming the variable, changing nothing`, async () => {
          const kernel = fused ? registerL2Norms() : null;
          try {
            const { a, b, optimizer } = setup(make);
            const before = await snapshot(optimizer, [a, b]);
            const grads = { "fg/a": tf.tensor1d([0.5, bad, 0.5]), "fg/b": tf.ones([1, 2]) };
            let error: unknown;
            try {
              optimizer.applyGradients(grads);
            } catch (e) {
              error = e;
            }
            expect(error).toBeInstanceOf(OptimError);
            expect((error as OptimError).code).toBe("non_finite_gradient");
            expect((error as OptimError).message).toContain('the gradient of "fg/a"');
            expect((error as OptimError).message).not.toContain('"fg/b"');
            expect(await snapshot(optimizer, [a, b])).toEqual(before);
            if (kernel) expect(kernel.calls).toBeGreaterThan(0);
            // A finite step afterwards still works.
            optimizer.applyGradients({ "fg/a": tf.ones([3]), "fg/b": tf.ones([1, 2]) });
            expect(optimizer.iterations).toBe(before.iterations + 1);
          } finally {
            kernel?.unregister();
          }
        });
      }
    }
  }

  it("does not check again the gradients clipByGlobalNorm checked", () => {
    const kernel = registerL2Norms();
    try {
      const { optimizer } = setup(OPTIMIZERS[0]![1]);
      const before = kernel.calls;
      const { grads } = clipByGlobalNorm({ "fg/a": tf.ones([3]), "fg/b": tf.ones([1, 2]) }, 1);
      expect(kernel.calls).toBe(before + 1);
      optimizer.applyGradients(grads);
      expect(kernel.calls).toBe(before + 1);
    } finally {
      kernel.unregister();
    }
  });

  it("leaves no tensors behind when it refuses", () => {
    const { optimizer } = setup(OPTIMIZERS[1]![1]);
    const grads = { "fg/a": tf.tensor1d([Number.NaN, 0, 0]), "fg/b": tf.ones([1, 2]) };
    const before = tf.memory().numTensors;
    expect(() => optimizer.applyGradients(grads)).toThrow(/NaN or Infinity/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
