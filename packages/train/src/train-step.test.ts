import { useBackend } from "@cnnkit/backends";
import { AdamW } from "@cnnkit/optim";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { tinyBatch, tinyModel } from "../test/tiny.js";
import {
  applyBatchGradients,
  DIVERGENCE_FACTOR,
  divergenceLimit,
  NonFiniteLossError,
  trainStep,
} from "./train-step.js";

beforeAll(() => useBackend("cpu", { threads: 1, onnxruntime: false }));

describe("trainStep", () => {
  it("lowers the loss on a repeated batch and leaves no tensors behind", async () => {
    const model = tinyModel();
    const optimizer = new AdamW({ learningRate: 1e-2, weightDecay: 0 });
    const batch = tinyBatch();
    const y = batch.y as tf.Tensor1D;
    const first = await trainStep(model, optimizer, batch.x, y, { gradClip: 1 });
    const tensors = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 5; i++)
      last = await trainStep(model, optimizer, batch.x, y, { gradClip: 1 });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(last.loss).toBeLessThan(first.loss);
    expect(first.gradNorm).toBeGreaterThan(0);
    expect(first.correct).toBeGreaterThanOrEqual(0);
    expect(first.correct).toBeLessThanOrEqual(8);
    tf.dispose([batch.x, batch.y]);
    optimizer.dispose();
    model.dispose();
  });

  it("refuses a NaN loss before touching the weights", async () => {
    const model = tinyModel();
    const optimizer = new AdamW({ learningRate: 1e-2 });
    const batch = tinyBatch();
    const logits = model.getLayer("logits");
    const [kernel, bias] = logits.getWeights();
    tf.tidy(() => logits.setWeights([kernel!, tf.fill(bias!.shape, Number.NaN)]));
    const before = model.trainableWeights.map((w) => w.read().dataSync().slice());
    const tensors = tf.memory().numTensors;
    const error = await trainStep(model, optimizer, batch.x, batch.y as tf.Tensor1D).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect(NonFiniteLossError.isInstance(error)).toBe(true);
    expect(error.code).toBe("non_finite_loss");
    expect(error.message).toBe("the training loss is NaN: training diverged");
    expect(tf.memory().numTensors).toBe(tensors);
    // The trainable weights; BatchNorm's moving statistics did see the batch in the forward pass.
    model.trainableWeights.forEach((w, i) => {
      expect(w.read().dataSync()).toEqual(before[i]);
    });
    expect(optimizer.iterations).toBe(0);
    tf.dispose([batch.x, batch.y]);
    optimizer.dispose();
    model.dispose();
  });

  it("refuses a huge but finite loss above the divergence limit, before touching the weights", async () => {
    expect(divergenceLimit(10)).toBeCloseTo(DIVERGENCE_FACTOR * Math.LN10, 9);
    const model = tinyModel();
    const optimizer = new AdamW({ learningRate: 1e-2 });
    const batch = tinyBatch();
    // Logits scaled up 1e6 times: a finite loss of the order of a blown-up run's.
    const logits = model.getLayer("logits");
    const [kernel, bias] = logits.getWeights();
    tf.tidy(() => logits.setWeights([tf.mul(kernel!, 1e6), bias!]));
    const before = model.trainableWeights.map((w) => w.read().dataSync().slice());
    const error = await trainStep(model, optimizer, batch.x, batch.y as tf.Tensor1D, {
      maxLoss: divergenceLimit(10),
    }).catch((e) => e);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect(error.message).toMatch(
      /^the training loss is \d\.\d{3}e\+\d+, above the divergence limit 2\.303e\+4 \(1e\+4 × the loss of a uniform guess\): training diverged$/,
    );
    model.trainableWeights.forEach((w, i) => {
      expect(w.read().dataSync()).toEqual(before[i]);
    });
    expect(optimizer.iterations).toBe(0);
    // Without the limit, the same step is applied (the loss is finite).
    await trainStep(model, optimizer, batch.x, batch.y as tf.Tensor1D);
    expect(optimizer.iterations).toBe(1);
    tf.dispose([batch.x, batch.y]);
    optimizer.dispose();
    model.dispose();
  });

  it("with clipping off, refuses NaN/Inf gradients as a divergence, applying nothing", () => {
    const w = tf.variable(tf.tensor1d([1, 2, 3]), true, "step-test/w");
    const optimizer = new AdamW({ learningRate: 1e-2 });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const grads = { [w.name]: tf.tensor1d([0, bad, 0]) };
      expect(() => applyBatchGradients(optimizer, 1.5, grads, { gradClip: null })).toThrow(
        "a gradient (NaN or Infinity) is NaN: training diverged",
      );
      expect(Array.from(w.dataSync())).toEqual([1, 2, 3]);
      tf.dispose(Object.values(grads));
    }
    expect(optimizer.iterations).toBe(0);
    optimizer.dispose();
    w.dispose();
  });

  it("with clipping on, a non-finite gradient norm is the same divergence, applying nothing", () => {
    const w = tf.variable(tf.tensor1d([1, 2, 3]), true, "step-test/w-clipped");
    const optimizer = new AdamW({ learningRate: 1e-2 });
    const grads = { [w.name]: tf.tensor1d([0, Number.NaN, 0]) };
    let error: unknown;
    try {
      applyBatchGradients(optimizer, 1.5, grads, { gradClip: 1 });
    } catch (e) {
      error = e;
    }
    expect(NonFiniteLossError.isInstance(error)).toBe(true);
    expect((error as NonFiniteLossError).message).toBe(
      "the gradient norm is NaN: training diverged",
    );
    expect(Array.from(w.dataSync())).toEqual([1, 2, 3]);
    expect(optimizer.iterations).toBe(0);
    tf.dispose(Object.values(grads));
    optimizer.dispose();
    w.dispose();
  });
});
