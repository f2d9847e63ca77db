import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { AdamW, decayKernelsOnly, OptimError, resolveAdamWOptions, SGD } from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});
afterEach(() => {
  tf.disposeVariables();
});

describe("AdamW", () => {
  it("has PyTorch's defaults and checks every option", () => {
    expect(resolveAdamWOptions()).toEqual({
      learningRate: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
      weightDecay: 1e-2,
      decayFilter: undefined,
      groups: [],
    });
    expect(() => new AdamW({ beta1: 1 })).toThrow(
      /AdamW: expected beta1 to be a finite number in \[0, 1\), got 1/,
    );
    expect(() => new AdamW({ learningRate: -1 })).toThrow(/learningRate .* got -1/);
    expect(() => new AdamW({ weightDecay: Number.NaN })).toThrow(OptimError);
    const adam = new AdamW();
    expect(() => {
      adam.learningRate = Number.POSITIVE_INFINITY;
    }).toThrow(/learningRate .* got Infinity/);
    expect(() => {
      adam.beta1 = 1.5;
    }).toThrow(/beta1/);
    adam.learningRate = 0.5;
    adam.beta1 = 0.8;
    expect([adam.learningRate, adam.beta1]).toEqual([0.5, 0.8]);
  });

  it("applies the current beta1 in the bias correction, as PyTorch does", () => {
    // Two steps on one scalar with beta1 changed in between, checked against the formula in doubles.
    const p = tf.variable(tf.scalar(1), true, "bias-correction/p");
    const adam = new AdamW({ learningRate: 0.1, beta1: 0.9, beta2: 0.99, weightDecay: 0.1 });
    const grads = [0.5, -2];
    const betas1 = [0.9, 0.6];
    let m = 0;
    let v = 0;
    let expected = 1;
    grads.forEach((g, i) => {
      adam.beta1 = betas1[i]!;
      adam.applyGradients({ "bias-correction/p": tf.scalar(g) });
      const t = i + 1;
      const b1 = betas1[i]!;
      expected *= 1 - 0.1 * 0.1;
      m = b1 * m + (1 - b1) * g;
      v = 0.99 * v + (1 - 0.99) * g * g;
      const denom = Math.sqrt(v) / Math.sqrt(1 - 0.99 ** t) + 1e-8;
      expected -= (0.1 / (1 - b1 ** t)) * (m / denom);
    });
    expect(p.dataSync()[0]).toBeCloseTo(expected, 6);
    // The product form (1 − 0.9·0.6 at t = 2) would land elsewhere.
    const mProduct = m / (1 - 0.9 * 0.6);
    expect(Math.abs(mProduct - m / (1 - 0.6 ** 2))).toBeGreaterThan(0.1);
    adam.dispose();
  });

  it("decays only what the decayFilter accepts, and nothing without a gradient", () => {
    const kernel = tf.variable(tf.ones([2, 2]), true, "dense/kernel");
    const bias = tf.variable(tf.ones([2]), true, "dense/bias");
    const other = tf.variable(tf.ones([2]), true, "untouched/kernel");
    const adam = new AdamW({ learningRate: 0.1, weightDecay: 0.5, decayFilter: decayKernelsOnly });
    adam.applyGradients({ "dense/kernel": tf.zeros([2, 2]), "dense/bias": tf.zeros([2]) });
    // Zero gradients: Adam's own step is 0, so only decoupled decay moves a weight.
    expect(Array.from(kernel.dataSync())).toEqual([0.95, 0.95, 0.95, 0.95].map(Math.fround));
    expect(Array.from(bias.dataSync())).toEqual([1, 1]);
    expect(Array.from(other.dataSync())).toEqual([1, 1]);
    expect(decayKernelsOnly("stage1_block1_conv1/kernel")).toBe(true);
    expect(decayKernelsOnly("stem_conv/kernel_3")).toBe(true);
    expect(decayKernelsOnly("stem_bn/gamma")).toBe(false);
    expect(decayKernelsOnly("logits/bias")).toBe(false);
    adam.dispose();
  });

  it("reports unknown variables and gradients of the wrong shape", () => {
    tf.variable(tf.ones([3]), true, "shape/p");
    const adam = new AdamW();
    expect(() => adam.applyGradients({ "shape/p": tf.ones([2]) })).toThrow(
      /gradient of "shape\/p" has shape \[2\], expected the variable's \[3\]/,
    );
    expect(() => adam.applyGradients({ nothing: tf.ones([2]) })).toThrow(
      /no variable named "nothing"/,
    );
    expect(adam.iterations).toBe(0);
  });

  it("works through minimize, is its own class for instanceof, and round-trips its config", () => {
    const p = tf.variable(tf.tensor1d([3, -2]), true, "minimize/p");
    const adam = new AdamW({ learningRate: 0.1, weightDecay: 0 });
    for (let i = 0; i < 50; i++) adam.minimize(() => tf.sum(tf.square(p)));
    const after = p.dataSync();
    expect(Math.abs(after[0]!)).toBeLessThan(0.5);
    expect(adam.iterations).toBe(50);
    expect(adam instanceof AdamW).toBe(true);
    expect(adam instanceof tf.Optimizer).toBe(true);
    expect(new SGD() instanceof AdamW).toBe(false);
    const registered = tf.serialization.SerializationMap.getMap().classNameMap[AdamW.className];
    expect(registered?.[0]).toBe(AdamW);
    const [cls, fromConfig] = registered!;
    const copy = fromConfig(cls, adam.getConfig()) as AdamW;
    expect(copy).toBeInstanceOf(AdamW);
    expect(copy.getConfig()).toEqual(adam.getConfig());
    adam.dispose();
  });
});
