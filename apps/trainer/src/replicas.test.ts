import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { threadsPerReplica } from "@cnnkit/train/data-parallel";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { BUILDERS, replicaBuilder } from "./model.js";
import { Progress } from "./progress.js";
import { resolveReplicas } from "./replicas.js";
import { runPaths } from "./run-dir.js";
import { syntheticData, tinyConfig, useCpu } from "./test-helpers.js";
import { type MetricsFile, train } from "./train.js";

beforeAll(useCpu);

describe("resolveReplicas", () => {
  it("takes the configured number, or one per core with 32 images each on wasm and cpu", () => {
    expect(resolveReplicas({ replicas: 3, batchSize: 64 }, "tensorflow", 8)).toBe(3);
    expect(resolveReplicas({ replicas: "auto", batchSize: 64 }, "wasm", 2)).toBe(2);
    expect(resolveReplicas({ replicas: "auto", batchSize: 32 }, "wasm", 2)).toBe(1);
    expect(resolveReplicas({ replicas: "auto", batchSize: 512 }, "tensorflow", 8)).toBe(1);
    // One model when each step is one ONNX Runtime session (its threads take the cores).
    expect(resolveReplicas({ replicas: "auto", batchSize: 64, stepGraph: true }, "wasm", 2)).toBe(
      1,
    );
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
