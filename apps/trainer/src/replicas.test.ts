import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdamW } from "@cnnkit/optim";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trainBatches } from "./data.js";
import { buildModel } from "./model.js";
import { Progress } from "./progress.js";
import { ReplicaGroup, sliceSizes, threadsPerReplica } from "./replicas.js";
import { runPaths } from "./run-dir.js";
import { syntheticData, tinyConfig, useCpu } from "./test-helpers.js";
import { type MetricsFile, train } from "./train.js";
import { applyBatchGradients, batchGradients } from "./train-step.js";

beforeAll(useCpu);

describe("sliceSizes / threadsPerReplica", () => {
  it("splits every row once, the first slices one larger", () => {
    expect(sliceSizes(64, 2)).toEqual([32, 32]);
    expect(sliceSizes(7, 3)).toEqual([3, 2, 2]);
    expect(sliceSizes(1, 3)).toEqual([1, 0, 0]);
  });

  it("shares the cores out, at least one thread each", () => {
    expect(threadsPerReplica(2, 2)).toBe(1);
    expect(threadsPerReplica(2, 8)).toBe(4);
    expect(threadsPerReplica(3, 2)).toBe(1);
  });
});

/** Batch `step` of the synthetic data, as the loader makes it. */
function batchOf(config: ReturnType<typeof tinyConfig>, n: number, step: number) {
  const batches = trainBatches(syntheticData(n * 2).train, { ...config, batchSize: n });
  return batches.toTensors(batches.prepare(0, step, batches.order(0)), 0);
}

describe("ReplicaGroup", () => {
  const config = tinyConfig();
  let group: ReplicaGroup;
  beforeAll(async () => {
    const probe = buildModel(config);
    group = await ReplicaGroup.start(config, probe, 10, { replicas: 3 });
    probe.dispose();
  }, 60_000);
  afterAll(() => group?.close());

  it("steps as one model would with the row-weighted mean of its slices' gradients", async () => {
    // 7 rows over 3 replicas: slices of 3, 2 and 2, so a plain (unweighted) mean would differ.
    const model = buildModel(config);
    const reference = buildModel(config);
    const replicated = await ReplicaGroup.start(config, model, 10, { replicas: 3 });
    const optA = new AdamW({ learningRate: 1e-2, weightDecay: 1e-4 });
    const optB = new AdamW({ learningRate: 1e-2, weightDecay: 1e-4 });
    const options = { labelSmoothing: 0.1, gradClip: 1 };
    try {
      // Two steps: the second shows the workers start from the updated weights.
      for (const s of [0, 1]) {
        const batch = batchOf(config, 7, s);
        const y = batch.y as tf.Tensor1D;
        const tensors = tf.memory().numTensors;
        const got = await replicated.step(model, optA, batch.x, y, options);
        // The first step creates the optimizer's moments; after that, a step leaves nothing.
        if (s === 1) expect(tf.memory().numTensors).toBe(tensors);

        // The reference: each slice's gradients on one model, averaged with weights 3/7, 2/7, 2/7.
        let start = 0;
        let loss = 0;
        let correct = 0;
        const sums: tf.NamedTensorMap = {};
        for (const n of sliceSizes(7, 3)) {
          const part = tf.tidy(() =>
            batchGradients(
              reference,
              tf.slice(batch.x, [start, 0, 0, 0], [n, 32, 32, 3]),
              tf.slice(y, [start], [n]),
              options.labelSmoothing,
            ),
          );
          loss += (n / 7) * (await part.value.data())[0]!;
          correct += (await part.correct.data())[0]!;
          for (const [name, g] of Object.entries(part.grads)) {
            const scaled = tf.mul(g, n / 7);
            const prev = sums[name];
            if (prev) {
              sums[name] = tf.add(prev, scaled);
              tf.dispose([prev, scaled]);
            } else {
              sums[name] = scaled;
            }
          }
          tf.dispose([part.value, part.correct, ...Object.values(part.grads)]);
          start += n;
        }
        const { gradNorm } = applyBatchGradients(optB, loss, sums, options);
        tf.dispose(Object.values(sums));
        expect(got.loss).toBeCloseTo(loss, 5);
        expect(got.correct).toBe(correct);
        expect(got.gradNorm).toBeCloseTo(gradNorm!, 4);
        tf.dispose([batch.x, batch.y]);
      }
      const a = model.trainableWeights.map((w) => w.read().dataSync());
      const b = reference.trainableWeights.map((w) => w.read().dataSync());
      for (const [i, wa] of a.entries()) {
        const wb = b[i]!;
        let worst = 0;
        for (let j = 0; j < wa.length; j++) worst = Math.max(worst, Math.abs(wa[j]! - wb[j]!));
        expect(worst, model.trainableWeights[i]!.name).toBeLessThan(1e-5);
      }
    } finally {
      await replicated.close();
      optA.dispose();
      optB.dispose();
      model.dispose();
      reference.dispose();
    }
  }, 120_000);

  it("applies nothing when a replica's loss is not finite", async () => {
    const model = buildModel(config);
    const optimizer = new AdamW({ learningRate: 1e-2 });
    // NaN pixels in the last rows only: replica 0's slice is fine, a worker's is not.
    const batch = batchOf(config, 6, 0);
    const x = tf.tidy(() =>
      tf.concat([tf.slice(batch.x, [0], [4]), tf.fill([2, 32, 32, 3], Number.NaN)]),
    ) as tf.Tensor4D;
    const before = model.trainableWeights.map((w) => w.read().dataSync().slice());
    const error = await group
      .step(model, optimizer, x, batch.y as tf.Tensor1D)
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe("the training loss is NaN: training diverged");
    expect((error as { code?: string }).code).toBe("non_finite_loss");
    for (const [i, w] of model.trainableWeights.entries()) {
      expect(w.read().dataSync()).toEqual(before[i]);
    }
    expect(optimizer.iterations).toBe(0);
    tf.dispose([x, batch.x, batch.y]);
    optimizer.dispose();
    model.dispose();
  }, 60_000);

  it("says which replica could not start", async () => {
    const model = buildModel(config);
    // The workers build the config's model; a main model of other widths cannot be theirs.
    const error = await ReplicaGroup.start({ ...config, widths: [4, 8, 8] }, model, 10, {
      replicas: 2,
    }).catch((e: unknown) => e as Error & { code?: string });
    expect(error).toBeInstanceOf(Error);
    expect((error as { code?: string }).code).toBe("replica_failed");
    expect((error as Error).message).toMatch(
      /^replica 1: could not start: its model's trainable variables differ from the main thread's/,
    );
    model.dispose();
  }, 60_000);

  it("refuses fewer than two replicas", async () => {
    const model = buildModel(config);
    await expect(ReplicaGroup.start(config, model, 10, { replicas: 1 })).rejects.toThrow(
      "ReplicaGroup: expected 2 or more replicas, got 1",
    );
    model.dispose();
  });

  it("refuses a model other than the one its replicas hold", async () => {
    const other = buildModel({ ...config, widths: [4, 8, 8] });
    const optimizer = new AdamW({ learningRate: 1e-2 });
    const batch = batchOf(config, 4, 0);
    await expect(group.step(other, optimizer, batch.x, batch.y as tf.Tensor1D)).rejects.toThrow(
      /the model has \d+ trainable parameters, the replicas \d+/,
    );
    expect(optimizer.iterations).toBe(0);
    tf.dispose([batch.x, batch.y]);
    optimizer.dispose();
    other.dispose();
  });

  it("fails the step, not hangs, when a worker dies", async () => {
    const model = buildModel(config);
    const doomed = await ReplicaGroup.start(config, model, 10, { replicas: 2 });
    const optimizer = new AdamW({ learningRate: 1e-2 });
    const batch = batchOf(config, 4, 0);
    try {
      // What a crashed thread looks like to the group: its worker is gone.
      await (
        doomed as unknown as { workers: { worker: { terminate(): Promise<number> } }[] }
      ).workers[0]!.worker.terminate();
      await expect(doomed.step(model, optimizer, batch.x, batch.y as tf.Tensor1D)).rejects.toThrow(
        /^replica 1: its thread exited/,
      );
      expect(optimizer.iterations).toBe(0);
    } finally {
      await doomed.close();
      tf.dispose([batch.x, batch.y]);
      optimizer.dispose();
      model.dispose();
    }
  }, 60_000);
});

describe("train() with replicas", () => {
  it("trains data-parallel, says so, and leaves no tensors behind", async () => {
    const runDir = await mkdtemp(join(tmpdir(), "cnnkit-replicas-"));
    const lines: string[] = [];
    const progress = new Progress({
      stream: { write: (s: string) => lines.push(s) },
      live: false,
      every: 1000,
    });
    const tensorsAfterEpoch: number[] = [];
    try {
      const config = tinyConfig({ epochs: 3, replicas: 2 });
      const result = await train(config, {
        runDir,
        data: syntheticData(48, 10),
        progress,
        afterEpoch: () => {
          tensorsAfterEpoch.push(tf.memory().numTensors);
        },
      });
      expect(result.status).toBe("completed");
      expect(result.globalStep).toBe(3 * 6);
      expect(lines.join("")).toContain(
        `data-parallel: 2 replicas of the model, ${threadsPerReplica(2)} thread(s) each; BatchNorm normalises each replica's slice of 4 images`,
      );
      const losses = result.history.map((e) => e.trainLoss);
      expect(losses.every(Number.isFinite)).toBe(true);
      // Class-coloured synthetic images: averaged gradients still learn them.
      expect(losses[2]!).toBeLessThan(losses[0]!);
      expect(tensorsAfterEpoch[2]).toBe(tensorsAfterEpoch[1]);
      const metrics = JSON.parse(await readFile(runPaths(runDir).metrics, "utf8")) as MetricsFile;
      expect(metrics.status).toBe("completed");
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  }, 180_000);

  it("resumes an interrupted data-parallel run to the same bytes as an uninterrupted one", async () => {
    const config = tinyConfig({ epochs: 2, replicas: 2 });
    const data = syntheticData(24, 10);
    const quiet = (onStep?: (s: { epoch: number; step: number }) => void) => {
      const p = new Progress({ stream: { write: () => true }, live: false, every: 1000 });
      if (onStep) {
        const update = p.update.bind(p);
        p.update = (s) => {
          update(s);
          onStep(s);
        };
      }
      return p;
    };
    const straight = await mkdtemp(join(tmpdir(), "cnnkit-replicas-straight-"));
    const broken = await mkdtemp(join(tmpdir(), "cnnkit-replicas-resumed-"));
    try {
      await train(config, { runDir: straight, data, progress: quiet() });
      const controller = new AbortController();
      // Ctrl-C in the middle of the second epoch.
      const first = await train(config, {
        runDir: broken,
        data,
        signal: controller.signal,
        progress: quiet((s) => {
          if (s.epoch === 2 && s.step === 1) controller.abort();
        }),
      });
      expect(first.status).toBe("interrupted");
      const second = await train(config, { runDir: broken, data, resume: true, progress: quiet() });
      expect(second.status).toBe("completed");
      for (const file of ["group1-shard1of1.bin", "optimizer.bin"]) {
        const a = await readFile(join(runPaths(straight).last, file));
        const b = await readFile(join(runPaths(broken).last, file));
        expect(b.equals(a), file).toBe(true);
      }
    } finally {
      await rm(straight, { recursive: true, force: true });
      await rm(broken, { recursive: true, force: true });
    }
  }, 180_000);
});
