import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataParallel, threadsPerReplica, trainableVariables } from "@cnnkit/backends";
import { AdamW } from "@cnnkit/optim";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { trainBatches } from "./data.js";
import { BUILDERS, buildModel, replicaBuilder } from "./model.js";
import { Progress } from "./progress.js";
import { resolveReplicas } from "./replicas.js";
import { runPaths } from "./run-dir.js";
import { syntheticData, tinyConfig, useCpu } from "./test-helpers.js";
import { type MetricsFile, train } from "./train.js";
import { applyBatchGradients, dataParallelStep } from "./train-step.js";

beforeAll(useCpu);

describe("resolveReplicas", () => {
  it("takes the configured number, or one per core with 32 images each on wasm and cpu", () => {
    expect(resolveReplicas({ replicas: 3, batchSize: 64 }, "tensorflow", 8)).toBe(3);
    expect(resolveReplicas({ replicas: "auto", batchSize: 64 }, "wasm", 2)).toBe(2);
    expect(resolveReplicas({ replicas: "auto", batchSize: 32 }, "wasm", 2)).toBe(1);
    expect(resolveReplicas({ replicas: "auto", batchSize: 512 }, "tensorflow", 8)).toBe(1);
  });
});

describe("replicaBuilder", () => {
  it("names the @cnnkit/resnet export that buildModel calls, for every model", async () => {
    const resnet = (await import(replicaBuilder(tinyConfig()).module as string)) as Record<
      string,
      unknown
    >;
    for (const [name, builder] of Object.values(BUILDERS)) expect(resnet[name]).toBe(builder);
    const b = replicaBuilder(tinyConfig({ model: "resnet20", widths: [16, 32, 64] }), 7);
    expect(b.export).toBe("resnet20");
    expect(b.args).toEqual([{ widths: [16, 32, 64], shortcut: "auto", seed: 0, numClasses: 7 }]);
  });
});

/** Batch `step` of the synthetic data, as the loader makes it. */
function batchOf(config: ReturnType<typeof tinyConfig>, n: number, step: number) {
  const batches = trainBatches(syntheticData(n * 2).train, { ...config, batchSize: n });
  return batches.toTensors(batches.prepare(0, step, batches.order(0)), 0);
}

describe("dataParallelStep", () => {
  const config = tinyConfig();

  it("applies the replicas' averaged gradients as trainStep applies one model's", async () => {
    // Two models of the same seed: A steps through dataParallelStep; B gets, through
    // applyBatchGradients, the gradients A's replicas report for the same batch and weights.
    const a = buildModel(config);
    const b = buildModel(config);
    const replicas = await DataParallel.start(a, { replicas: 2, build: replicaBuilder(config) });
    const optA = new AdamW({ learningRate: 1e-2, weightDecay: 1e-4 });
    const optB = new AdamW({ learningRate: 1e-2, weightDecay: 1e-4 });
    const options = { labelSmoothing: 0.1, gradClip: 0.5 };
    try {
      for (const s of [0, 1]) {
        const batch = batchOf(config, 6, s);
        const y = batch.y as tf.Tensor1D;
        const ref = await replicas.gradients(batch.x, y, { labelSmoothing: 0.1 });
        // Keyed by B's variables (an optimizer finds the variables by name).
        const forB: tf.NamedTensorMap = {};
        const names = trainableVariables(b).map((v) => v.name);
        for (const [i, v] of trainableVariables(a).entries()) forB[names[i]!] = ref.grads[v.name]!;
        const { gradNorm } = applyBatchGradients(optB, ref.loss, forB, options);
        const tensors = tf.memory().numTensors;
        const got = await dataParallelStep(replicas, optA, batch.x, y, options);
        // The first step creates the optimizer's moments; after that, a step leaves nothing.
        if (s === 1) expect(tf.memory().numTensors).toBe(tensors);
        expect(got.loss).toBeCloseTo(ref.loss, 6);
        expect(got.correct).toBe(ref.correct);
        expect(got.gradNorm).toBeCloseTo(gradNorm!, 6);
        tf.dispose([batch.x, batch.y, ...Object.values(ref.grads)]);
      }
      for (const [i, w] of a.trainableWeights.entries()) {
        const wa = w.read().dataSync();
        const wb = b.trainableWeights[i]!.read().dataSync();
        let worst = 0;
        for (let j = 0; j < wa.length; j++) worst = Math.max(worst, Math.abs(wa[j]! - wb[j]!));
        expect(worst, w.name).toBeLessThan(1e-6);
      }
    } finally {
      await replicas.close();
      optA.dispose();
      optB.dispose();
      a.dispose();
      b.dispose();
    }
  }, 120_000);

  it("applies nothing when a replica's loss is not finite", async () => {
    const model = buildModel(config);
    const replicas = await DataParallel.start(model, {
      replicas: 2,
      build: replicaBuilder(config),
    });
    const optimizer = new AdamW({ learningRate: 1e-2 });
    // NaN pixels in the last rows only: this thread's slice is fine, the worker's is not.
    const batch = batchOf(config, 6, 0);
    const x = tf.tidy(() =>
      tf.concat([tf.slice(batch.x, [0], [4]), tf.fill([2, 32, 32, 3], Number.NaN)]),
    ) as tf.Tensor4D;
    const before = model.trainableWeights.map((w) => w.read().dataSync().slice());
    try {
      const tensors = tf.memory().numTensors;
      const error = await dataParallelStep(replicas, optimizer, x, batch.y as tf.Tensor1D).catch(
        (e: unknown) => e,
      );
      expect((error as Error).message).toBe("the training loss is NaN: training diverged");
      expect((error as { code?: string }).code).toBe("non_finite_loss");
      expect(tf.memory().numTensors).toBe(tensors);
      for (const [i, w] of model.trainableWeights.entries()) {
        expect(w.read().dataSync()).toEqual(before[i]);
      }
      expect(optimizer.iterations).toBe(0);
    } finally {
      await replicas.close();
      tf.dispose([x, batch.x, batch.y]);
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
