// trainStep on a backend that can only be read asynchronously (as WebGPU in Node): the loss, the
// finite check and clipping's norms are read with one await, applyGradients reads nothing, and
// the steps equal cpu's to the bit.
import "@tensorflow/tfjs-backend-cpu";
import { AdamW, SGD } from "@cnnkit/optim";
import { useAsyncOnlyBackend } from "@cnnkit/vitest-config/async-only-backend";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, describe, expect, it } from "vitest";
import { tinyBatch, tinyModel } from "../test/tiny.js";
import { NonFiniteLossError, type TrainStepOptions, trainStep } from "./index.js";

afterEach(async () => {
  await tf.setBackend("cpu");
});

/** Three steps on one batch; the losses and the trained weights, read asynchronously. */
async function threeSteps(makeOptimizer: () => tf.Optimizer, options: TrainStepOptions) {
  const model = tinyModel();
  const optimizer = makeOptimizer();
  const batch = tinyBatch();
  const results = [];
  for (let i = 0; i < 3; i++) {
    results.push(await trainStep(model, optimizer, batch.x, batch.y, options));
  }
  const weights = await Promise.all(model.trainableWeights.map((w) => w.read().data()));
  tf.dispose([batch.x, batch.y]);
  optimizer.dispose();
  model.dispose();
  return { results, weights: weights.map((w) => Array.from(w)) };
}

const CASES: [string, () => tf.Optimizer, TrainStepOptions][] = [
  ["SGD, no clipping", () => new SGD({ learningRate: 0.05, momentum: 0.9, nesterov: true }), {}],
  ["AdamW, clipping at 0.5", () => new AdamW({ learningRate: 1e-2 }), { gradClip: 0.5 }],
  [
    "SGD, label smoothing, clipping",
    () => new SGD({ learningRate: 0.05 }),
    { labelSmoothing: 0.2, gradClip: 1 },
  ],
];

describe("trainStep on a backend read only asynchronously", () => {
  for (const [name, makeOptimizer, options] of CASES) {
    it(`${name}: the same losses, norms and weights as on cpu, no tensors left`, async () => {
      const onCpu = await threeSteps(makeOptimizer, options);
      await useAsyncOnlyBackend(tf);
      const tensors = tf.memory().numTensors;
      const onDevice = await threeSteps(makeOptimizer, options);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(onDevice).toEqual(onCpu);
      if (options.gradClip) expect(onDevice.results[0]!.gradNorm).toBeGreaterThan(0);
    });
  }

  it("a loss past maxLoss throws before the update and frees the gradients clipped meanwhile", async () => {
    await useAsyncOnlyBackend(tf);
    const model = tinyModel();
    const optimizer = new AdamW({ learningRate: 1e-2 });
    const batch = tinyBatch();
    const before = await Promise.all(model.trainableWeights.map((w) => w.read().data()));
    const tensors = tf.memory().numTensors;
    const error = await trainStep(model, optimizer, batch.x, batch.y, {
      gradClip: 1,
      maxLoss: 1e-3,
    }).catch((e: unknown) => e);
    expect(NonFiniteLossError.isInstance(error)).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors);
    const after = await Promise.all(model.trainableWeights.map((w) => w.read().data()));
    expect(after).toEqual(before);
    expect(optimizer.iterations).toBe(0);
    tf.dispose([batch.x, batch.y]);
    optimizer.dispose();
    model.dispose();
  });

  it("a NaN loss is refused as on cpu, with clipping on or off", async () => {
    await useAsyncOnlyBackend(tf);
    for (const gradClip of [null, 1]) {
      const model = tinyModel();
      const logits = model.getLayer("logits");
      const [kernel, bias] = logits.getWeights();
      tf.tidy(() => logits.setWeights([kernel!, tf.fill(bias!.shape, Number.NaN)]));
      const optimizer = new SGD({ learningRate: 0.1 });
      const batch = tinyBatch();
      const tensors = tf.memory().numTensors;
      const error = await trainStep(model, optimizer, batch.x, batch.y, { gradClip }).catch(
        (e: unknown) => e,
      );
      expect((error as Error).message).toBe("the training loss is NaN: training diverged");
      expect(tf.memory().numTensors).toBe(tensors);
      tf.dispose([batch.x, batch.y]);
      optimizer.dispose();
      model.dispose();
    }
  });
});
