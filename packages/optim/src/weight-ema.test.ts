import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { getWeightEMAState, OptimError, setWeightEMAState, WeightEMA } from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});
afterEach(() => {
  tf.disposeVariables();
});

function tinyModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [4] });
  const dense = tfl.layers.dense({ units: 3, name: "fc" }).apply(input) as tfl.SymbolicTensor;
  const bn = tfl.layers.batchNormalization({ name: "bn" }).apply(dense) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: bn });
}

function values(model: tfl.LayersModel): number[][] {
  return model.weights.map((w) => Array.from(w.read().dataSync()));
}

describe("WeightEMA", () => {
  it("averages every weight of a model, BatchNorm moving statistics included", () => {
    const model = tinyModel();
    const names = model.weights.map((w) => w.originalName);
    expect(names).toEqual(
      expect.arrayContaining(["bn/moving_mean", "bn/moving_variance", "fc/kernel"]),
    );
    const ema = new WeightEMA(model, { decay: 0.5 });
    const start = values(model);
    // Move every weight (a training step would move the kernels; a forward pass in training mode the BN stats).
    tf.tidy(() => {
      for (const w of model.weights) w.write(tf.add(w.read(), 2));
    });
    ema.update();
    const averaged = ema.getWeights().map((w) => Array.from(w.tensor.dataSync()));
    averaged.forEach((vals, i) => {
      vals.forEach((v, j) => {
        expect(v).toBeCloseTo(start[i]![j]! + 1, 5);
      });
    });
    expect(ema.getWeights().map((w) => w.name)).toEqual(names);
    expect(ema.updates).toBe(1);
    ema.dispose();
  });

  it("swaps the average in for evaluation and the training weights back, even when evaluation throws", async () => {
    const model = tinyModel();
    const ema = new WeightEMA(model, { decay: 0.9 });
    tf.tidy(() => {
      for (const w of model.weights) w.write(tf.add(tf.mul(w.read(), 0), 5));
    });
    ema.update();
    const training = values(model);
    const x = tf.ones([2, 4]);
    const trainingOut = (model.predict(x) as tf.Tensor).dataSync();
    const emaOut = await ema.evaluate(() => {
      expect(ema.swappedIn).toBe(true);
      expect(() => ema.update()).toThrow(/swapped in; call swapOut\(\) before training again/);
      const means = model.getLayer("bn").getWeights()[2]!.dataSync();
      expect(Array.from(means).every((m) => Math.abs(m - 5) > 0.1)).toBe(true);
      return (model.predict(x) as tf.Tensor).dataSync();
    });
    expect(Array.from(emaOut)).not.toEqual(Array.from(trainingOut));
    expect(values(model)).toEqual(training);
    await expect(
      ema.evaluate(() => {
        throw new Error("eval failed");
      }),
    ).rejects.toThrow("eval failed");
    expect(ema.swappedIn).toBe(false);
    expect(values(model)).toEqual(training);
    expect(() => ema.swapOut()).toThrow(OptimError);
    tf.dispose(x);
    ema.dispose();
  });

  it("loads its averages into a rebuilt model whose variables tfjs-layers renamed", async () => {
    const first = tinyModel();
    const ema = new WeightEMA(first, { decay: 0.5 });
    tf.tidy(() => {
      for (const w of first.weights) w.write(tf.add(w.read(), 1));
    });
    ema.update();
    const state = await getWeightEMAState(ema);
    const expected = ema.getWeights().map((w) => Array.from(w.tensor.dataSync()));
    ema.dispose();
    first.dispose();
    const second = tinyModel();
    expect((second.weights[0]!.read() as tf.Variable).name).toMatch(/_\d+$/);
    const again = new WeightEMA(second, { decay: 0.5 });
    await setWeightEMAState(again, state);
    expect(again.getWeights().map((w) => Array.from(w.tensor.dataSync()))).toEqual(expected);
    again.dispose();
  });

  it("works on plain tf.Variables, warms its decay up, and leaks nothing", () => {
    const v = tf.variable(tf.tensor1d([0, 0]), true, "ema/v");
    const ema = new WeightEMA([v], { decay: 0.999, warmup: true });
    expect(ema.currentDecay).toBeCloseTo(0.1, 12); // (1 + 0) / (10 + 0)
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) {
      tf.tidy(() => {
        v.assign(tf.add(v, 1));
      });
      ema.update();
      ema.swapIn();
      ema.swapOut();
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(ema.currentDecay).toBeCloseTo(101 / 110, 12);
    expect(() => new WeightEMA([])).toThrow(/non-empty array/);
    expect(() => new WeightEMA([v], { decay: 2 })).toThrow(/decay .* got 2/);
    ema.dispose();
  });
});
