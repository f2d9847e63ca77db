import { AdamW } from "@cnnkit/optim";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { trainBatches } from "./data.js";
import { buildModel } from "./model.js";
import { syntheticData, tinyConfig, useCpu } from "./test-helpers.js";
import { NonFiniteLossError, trainStep } from "./train-step.js";

beforeAll(useCpu);

describe("trainStep", () => {
  it("lowers the loss on a repeated batch and leaves no tensors behind", async () => {
    const config = tinyConfig();
    const model = buildModel(config);
    const optimizer = new AdamW({ learningRate: 1e-2, weightDecay: 0 });
    const batches = trainBatches(syntheticData(8).train, config);
    const batch = batches.toTensors(batches.prepare(0, 0, batches.order(0)), 0);
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
    const config = tinyConfig();
    const model = buildModel(config);
    const optimizer = new AdamW({ learningRate: 1e-2 });
    const batches = trainBatches(syntheticData(8).train, config);
    const batch = batches.toTensors(batches.prepare(0, 0, batches.order(0)), 0);
    const logits = model.getLayer("logits");
    const [kernel, bias] = logits.getWeights();
    tf.tidy(() => logits.setWeights([kernel!, tf.fill(bias!.shape, Number.NaN)]));
    const before = model.trainableWeights.map((w) => w.read().dataSync().slice());
    const tensors = tf.memory().numTensors;
    const error = await trainStep(model, optimizer, batch.x, batch.y as tf.Tensor1D).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(NonFiniteLossError);
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
});
