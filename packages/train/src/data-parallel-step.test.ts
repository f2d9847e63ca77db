import { useBackend } from "@cnnkit/backends";
import { AdamW } from "@cnnkit/optim";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataParallel, dataParallelStep } from "./data-parallel.js";
import { trainStep } from "./train-step.js";

beforeAll(() => useBackend("cpu", { threads: 1, onnxruntime: false }));

/**
 * A seeded convnet without BatchNorm, of tfjs-layers' own layers (the workers rebuild it from
 * its JSON): with no statistics of the batch in the forward pass, the replicas' row-weighted
 * slices must give exactly the whole batch's gradients, so one model's `trainStep` on the whole
 * batch is an independent reference for `dataParallelStep`.
 */
function convnet(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [8, 8, 3],
        filters: 4,
        kernelSize: 3,
        activation: "relu",
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
      }),
      tfl.layers.flatten(),
      tfl.layers.dense({
        units: 5,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }),
      }),
    ],
  });
}

function batch(rows: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return {
    x: tf.randomNormal([rows, 8, 8, 3], 0, 1, "float32", seed) as tf.Tensor4D,
    y: tf.tensor1d(
      Array.from({ length: rows }, (_, i) => (i * 3 + seed) % 5),
      "int32",
    ),
  };
}

describe("dataParallelStep", () => {
  let a: tfl.LayersModel;
  let b: tfl.LayersModel;
  let group: DataParallel;
  beforeAll(async () => {
    a = convnet();
    b = convnet();
    group = await DataParallel.start(a, { replicas: 2 });
  }, 60_000);
  afterAll(async () => {
    await group?.close();
    a?.dispose();
    b?.dispose();
  });

  it("trains as one model's trainStep on the whole batch (a net without BatchNorm)", async () => {
    const optA = new AdamW({ learningRate: 1e-2, weightDecay: 1e-4 });
    const optB = new AdamW({ learningRate: 1e-2, weightDecay: 1e-4 });
    const options = { labelSmoothing: 0.1, gradClip: 0.5 };
    // 7 rows: slices of 4 and 3, so an unweighted mean of the slices would differ.
    for (const s of [0, 1, 2]) {
      const { x, y } = batch(7, s);
      const tensors = tf.memory().numTensors;
      const got = await dataParallelStep(group, optA, x, y, options);
      const want = await trainStep(b, optB, x, y, options);
      // The first step creates the optimizer's moments; after that, a step leaves nothing.
      if (s > 0) expect(tf.memory().numTensors).toBe(tensors);
      expect(got.loss).toBeCloseTo(want.loss, 5);
      expect(got.correct).toBe(want.correct);
      expect(got.gradNorm).toBeCloseTo(want.gradNorm!, 5);
      tf.dispose([x, y]);
    }
    for (const [i, w] of a.trainableWeights.entries()) {
      const wa = w.read().dataSync();
      const wb = b.trainableWeights[i]!.read().dataSync();
      let worst = 0;
      for (let j = 0; j < wa.length; j++) {
        const d = Math.abs(wa[j]! - wb[j]!);
        if (Number.isNaN(d) || d > worst) worst = d;
      }
      expect(worst, w.name).toBeLessThan(1e-5);
    }
    optA.dispose();
    optB.dispose();
  }, 120_000);

  it("takes the batch from the host as it takes tensors, to the same numbers", async () => {
    const { x, y } = batch(5, 7);
    const fromTensors = await group.gradients(x, y, { labelSmoothing: 0.2 });
    const labels = Uint8Array.from(y.dataSync());
    const tensors = tf.memory().numTensors;
    const fromHost = await group.gradients(
      { values: x.dataSync() as Float32Array, shape: x.shape },
      labels,
      { labelSmoothing: 0.2 },
    );
    expect(tf.memory().numTensors).toBe(tensors + Object.keys(fromHost.grads).length);
    expect(fromHost.loss).toBe(fromTensors.loss);
    expect(fromHost.correct).toBe(fromTensors.correct);
    for (const [name, g] of Object.entries(fromTensors.grads)) {
      expect(Array.from(fromHost.grads[name]!.dataSync()), name).toEqual(Array.from(g.dataSync()));
    }
    await expect(
      group.gradients({ values: new Float32Array(10), shape: [5, 8, 8, 3] }, labels),
    ).rejects.toThrow(
      "DataParallel.gradients: expected float32 x of [rows, ...] (a tensor, or { values: Float32Array of rows × ... numbers, shape }) and y of [rows], rows ≥ 1; got x of [5, 8, 8, 3] with 10 values and 5 labels",
    );
    tf.dispose([x, y, ...Object.values(fromTensors.grads), ...Object.values(fromHost.grads)]);
  }, 60_000);

  it("applies nothing when a replica's loss is not finite", async () => {
    const optimizer = new AdamW({ learningRate: 1e-2 });
    // NaN pixels in the last rows only: this thread's slice is fine, the worker's is not.
    const { x: good, y } = batch(6, 3);
    const x = tf.tidy(() =>
      tf.concat([tf.slice(good, 0, 4), tf.fill([2, 8, 8, 3], Number.NaN)]),
    ) as tf.Tensor4D;
    const before = a.trainableWeights.map((w) => w.read().dataSync().slice());
    const tensors = tf.memory().numTensors;
    const error = await dataParallelStep(group, optimizer, x, y).catch((e: unknown) => e);
    expect((error as Error).message).toBe("the training loss is NaN: training diverged");
    expect((error as { code?: string }).code).toBe("non_finite_loss");
    expect(tf.memory().numTensors).toBe(tensors);
    for (const [i, w] of a.trainableWeights.entries()) {
      expect(w.read().dataSync()).toEqual(before[i]);
    }
    expect(optimizer.iterations).toBe(0);
    tf.dispose([good, x, y]);
    optimizer.dispose();
  }, 60_000);
});
