import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { assertFiniteGradients } from "./finite-gradients.js";
import { AdamW, clipByGlobalNorm, OptimError, SGD } from "./index.js";

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

const OPTIMIZERS: [string, () => tf.Optimizer][] = [
  ["SGD", () => new SGD({ learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
  ["AdamW", () => new AdamW({ learningRate: 0.1 })],
];

describe("an optimizer step with a NaN or Infinity in a gradient", () => {
  for (const [name, make] of OPTIMIZERS) {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      it(`${name} refuses ${bad}, naming the variable, changing nothing`, async () => {
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
        // A finite step afterwards still works.
        optimizer.applyGradients({ "fg/a": tf.ones([3]), "fg/b": tf.ones([1, 2]) });
        expect(optimizer.iterations).toBe(before.iterations + 1);
      });
    }
  }

  for (const hostMemory of [true, false]) {
    it(`finds every bad tensor and no good one (${hostMemory ? "values read directly" : "isFinite + all, one read-back"})`, () => {
      const pairs: [string, tf.Tensor][] = [
        ["ok", tf.tensor1d([1, -2, 3e38])],
        ["nan", tf.tensor2d([[0, Number.NaN]])],
        ["inf", tf.tensor1d([Number.NEGATIVE_INFINITY])],
        ["ok2", tf.zeros([4, 4])],
      ];
      expect(() => assertFiniteGradients("T", pairs, { hostMemory })).toThrow(
        'T.applyGradients: expected finite gradients, got NaN or Infinity in the gradient of "nan", "inf"; nothing was applied',
      );
      expect(() =>
        assertFiniteGradients("T", [pairs[0]!, pairs[3]!], { hostMemory }),
      ).not.toThrow();
      tf.dispose(pairs.map(([, t]) => t));
    });
  }

  it("dispatches no kernel on a host-memory backend (the fused step stays one kernel per variable)", async () => {
    const { optimizer } = setup(OPTIMIZERS[0]![1]);
    const g = { "fg/a": tf.ones([3]), "fg/b": tf.ones([1, 2]) };
    const check = await tf.profile(() => assertFiniteGradients("SGD", Object.entries(g)));
    expect(check.kernels).toEqual([]);
    tf.dispose(Object.values(g));
    optimizer.dispose();
  });

  it("does not read again the gradients clipByGlobalNorm checked", () => {
    const { optimizer } = setup(OPTIMIZERS[0]![1]);
    const { grads } = clipByGlobalNorm({ "fg/a": tf.ones([3]), "fg/b": tf.ones([1, 2]) }, 1);
    const reads = Object.values(grads).map((t) => vi.spyOn(t, "dataSync"));
    optimizer.applyGradients(grads);
    for (const r of reads) expect(r).not.toHaveBeenCalled();
  });

  it("leaves no tensors behind when it refuses", () => {
    const { optimizer } = setup(OPTIMIZERS[1]![1]);
    const grads = { "fg/a": tf.tensor1d([Number.NaN, 0, 0]), "fg/b": tf.ones([1, 2]) };
    const before = tf.memory().numTensors;
    expect(() => optimizer.applyGradients(grads)).toThrow(/NaN or Infinity/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
