// The trainer's gradient hook, which the experiments rely on: once per step, raw gradients of
// every trainable variable, before the update, nothing retained.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { buildModel } from "../model.js";
import { Progress } from "../progress.js";
import { syntheticData, tinyConfig, useCpu } from "../test-helpers.js";
import { train } from "../train.js";

beforeAll(useCpu);

const quiet = () => new Progress({ stream: { write: () => true }, live: false, every: 1000 });

describe("train({ onGradients })", () => {
  it("sees each step's unclipped gradients before the optimizer applies them", async () => {
    const config = tinyConfig({ epochs: 1, gradClip: 1e-3 });
    const steps: number[] = [];
    const norms: number[] = [];
    let names: string[] = [];
    const before = tf.memory().numTensors;
    const result = await train(config, {
      runDir: await mkdtemp(join(tmpdir(), "cnnkit-hook-")),
      data: syntheticData(16, 8),
      progress: quiet(),
      onGradients: ({ step, grads, model }) => {
        steps.push(step);
        names = Object.keys(grads);
        expect(names.length).toBe(model.trainableWeights.length);
        norms.push(
          tf.tidy(
            () =>
              tf
                .sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))))
                .dataSync()[0]!,
          ),
        );
      },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(steps).toEqual([0, 1]);
    expect(result.globalStep).toBe(2);
    // Clipping is at 1e-3: the hook saw the norm before it.
    for (const n of norms) expect(n).toBeGreaterThan(1e-3);
  });

  it("runs after the loop set the lr, so it can override it (lr 0: the weights stay put)", async () => {
    const config = tinyConfig({ epochs: 1, weightDecay: 0 });
    const runDir = await mkdtemp(join(tmpdir(), "cnnkit-hook-"));
    let trained: Float32Array[] = [];
    await train(config, {
      runDir,
      data: syntheticData(16, 8),
      progress: quiet(),
      onGradients: ({ optimizer }) => {
        optimizer.learningRate = 0;
      },
      afterEpoch: ({ model }) => {
        trained = model.trainableWeights.map((w) => w.read().dataSync() as Float32Array);
      },
    });
    const fresh = buildModel(config);
    const initial = fresh.trainableWeights.map((w) => w.read().dataSync() as Float32Array);
    fresh.dispose();
    expect(trained.length).toBe(initial.length);
    for (const [i, w] of trained.entries()) expect(Array.from(w)).toEqual(Array.from(initial[i]!));
  });
});
