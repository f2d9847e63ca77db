import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listEventFiles, readEvents } from "@cnnkit/tensorboard";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { loadInferenceWeights, readTrainingState } from "./checkpoint.js";
import { buildModel } from "./model.js";
import { runPaths } from "./run-dir.js";
import { QuietProgress, syntheticData, tinyConfig, useCpu, weightsOf } from "./test-helpers.js";
import { type MetricsFile, train } from "./train.js";

beforeAll(useCpu);

const data = syntheticData();

describe("train", () => {
  let runDir = "";
  let tensorsAfterEpoch: number[] = [];

  it("runs the loop, writes every artifact and leaks no tensors across epochs", async () => {
    runDir = await mkdtemp(join(tmpdir(), "cnnkit-train-"));
    const config = tinyConfig({ epochs: 2 });
    tensorsAfterEpoch = [];
    const before = tf.memory().numTensors;
    const result = await train(config, {
      runDir,
      data,
      progress: new QuietProgress(),
      afterEpoch: () => {
        tensorsAfterEpoch.push(tf.memory().numTensors);
      },
    });
    expect(result.status).toBe("completed");
    // 24 images at batch 8: 3 steps per epoch, and the schedule ran exactly 2 × 3 steps.
    expect(result.stepsPerEpoch).toBe(3);
    expect(result.globalStep).toBe(6);
    expect(result.history.map((h) => h.epoch)).toEqual([1, 2]);
    // Same tensors after every epoch (model, optimizer slots), none left once the run is over.
    expect(tensorsAfterEpoch).toHaveLength(2);
    expect(new Set(tensorsAfterEpoch).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);

    const paths = runPaths(runDir);
    await expect(train(config, { runDir, data, progress: new QuietProgress() })).rejects.toThrow(
      `${runDir} already holds a run (config.json); continue it with --resume ${runDir}, or choose another --out`,
    );
    expect(JSON.parse(await readFile(paths.config, "utf8"))).toEqual(config);
    const metrics = JSON.parse(await readFile(paths.metrics, "utf8")) as MetricsFile;
    expect(metrics.status).toBe("completed");
    expect(metrics.totalSteps).toBe(6);
    expect(metrics.epochs).toHaveLength(2);
    for (const e of metrics.epochs) {
      for (const key of [
        "trainLoss",
        "trainAccuracy",
        "testLoss",
        "testAccuracy",
        "lr",
        "seconds",
      ]) {
        expect(Number.isFinite(e[key as keyof typeof e])).toBe(true);
      }
    }
    const best = Math.max(...metrics.epochs.map((e) => e.testAccuracy));
    expect(metrics.final.bestTestAccuracy).toBe(best);
    expect(metrics.epochs[metrics.final.bestEpoch! - 1]!.testAccuracy).toBe(best);
    // The last lr is the end of the one-cycle anneal: far below the peak.
    expect(metrics.epochs[1]!.lr).toBeLessThan(config.maxLr / 100);

    const last = await readTrainingState(paths.last);
    expect(last).toMatchObject({ epoch: 2, step: 0, globalStep: 6 });
    expect((await readTrainingState(paths.best)).epoch).toBe(metrics.final.bestEpoch);

    const [eventFile] = await listEventFiles(paths.tensorboard);
    const { events, truncated } = await readEvents(eventFile!);
    expect(truncated).toBeNull();
    const tags = new Set(events.flatMap((e) => e.summary?.map((v) => v.tag) ?? []));
    for (const tag of [
      "train/loss",
      "train/acc",
      "test/loss",
      "test/acc",
      "lr",
      "momentum",
      "images_per_second",
      "train/augmented_batch",
      "test/confusion_matrix",
      "weights/stem_conv/kernel",
      "config",
      "_hparams_/session_start_info",
    ]) {
      expect(tags, tag).toContain(tag);
    }
    const lrSteps = events.filter((e) => e.summary?.some((v) => v.tag === "lr")).map((e) => e.step);
    expect(lrSteps).toEqual([1, 2, 3, 4, 5, 6]);
    // One step axis: what is logged per epoch sits at the global step the epoch ended on (3
    // steps per epoch), as train/* does; hparams repeats the final test/acc at the last step.
    const stepsOf = (tag: string) =>
      events.filter((e) => e.summary?.some((v) => v.tag === tag)).map((e) => e.step);
    expect(stepsOf("test/loss")).toEqual([3, 6]);
    expect(stepsOf("test/acc")).toEqual([3, 6, 6]);
    expect(stepsOf("epoch/train_loss")).toEqual([3, 6]);
    expect(stepsOf("test/confusion_matrix")).toEqual([3, 6]);
    expect(stepsOf("weights/stem_conv/kernel")).toEqual([3, 6]);
  });

  it("resumes an interrupted run to the same weights as an uninterrupted one", async () => {
    const config = tinyConfig({ epochs: 2, ema: 0.9 });
    const straight = await mkdtemp(join(tmpdir(), "cnnkit-straight-"));
    await train(config, { runDir: straight, data, progress: new QuietProgress() });

    const broken = await mkdtemp(join(tmpdir(), "cnnkit-resumed-"));
    const controller = new AbortController();
    // Ctrl-C in the middle of the second epoch.
    const stopper = new QuietProgress((s) => {
      if (s.epoch === 2 && s.step === 1) controller.abort();
    });
    const first = await train(config, {
      runDir: broken,
      data,
      progress: stopper,
      signal: controller.signal,
    });
    expect(first.status).toBe("interrupted");
    expect(await readTrainingState(runPaths(broken).last)).toMatchObject({
      epoch: 1,
      step: 1,
      globalStep: 4,
    });
    const second = await train(config, {
      runDir: broken,
      data,
      resume: true,
      progress: new QuietProgress(),
    });
    expect(second.status).toBe("completed");
    expect(second.globalStep).toBe(6);

    const a = await weightsOf(runPaths(straight).last);
    const b = await weightsOf(runPaths(broken).last);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [name, values] of a) expect(b.get(name), name).toEqual(values);

    // Evaluation and export take the EMA average the run kept, not the raw trained weights.
    const model = buildModel(config);
    expect(await loadInferenceWeights(runPaths(straight).last, model)).toEqual({ ema: true });
    const kernel = (await model.getLayer("logits").getWeights()[0]!.data()) as Float32Array;
    const trained = a.get("logits/kernel")!;
    expect(kernel).toHaveLength(trained.length);
    expect(kernel).not.toEqual(trained);
    expect(kernel.every(Number.isFinite)).toBe(true);
    model.dispose();

    const ma = JSON.parse(await readFile(runPaths(straight).metrics, "utf8")) as MetricsFile;
    const mb = JSON.parse(await readFile(runPaths(broken).metrics, "utf8")) as MetricsFile;
    expect(mb.epochs.map((e) => [e.trainLoss, e.testAccuracy])).toEqual(
      ma.epochs.map((e) => [e.trainLoss, e.testAccuracy]),
    );
  });

  it("stops on a NaN loss with a clear message and keeps the last good checkpoint", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cnnkit-nan-"));
    const before = tf.memory().numTensors;
    const run = train(tinyConfig({ epochs: 2 }), {
      runDir: dir,
      data,
      progress: new QuietProgress(),
      // A fault after epoch 1's checkpoints: the weights go NaN, as a diverged step would leave them.
      afterEpoch: ({ epoch, model }) => {
        if (epoch === 1) {
          const layer = model.getLayer("stem_conv");
          const shape = layer.getWeights()[0]!.shape;
          tf.tidy(() => layer.setWeights([tf.fill(shape, Number.NaN)]));
        }
      },
    });
    await expect(run).rejects.toMatchObject({
      code: "non_finite_loss",
      message: expect.stringMatching(
        /^epoch 2, step 1: the training loss is NaN: training diverged at lr .*the last good checkpoint \(after epoch 1\) is kept in .*checkpoints\/last\. Try a lower --max-lr/,
      ),
    });
    const paths = runPaths(dir);
    expect(await readTrainingState(paths.last)).toMatchObject({ epoch: 1, step: 0 });
    for (const [name, values] of await weightsOf(paths.last)) {
      expect(values.every(Number.isFinite), name).toBe(true);
    }
    const metrics = JSON.parse(await readFile(paths.metrics, "utf8")) as MetricsFile;
    expect(metrics.status).toBe("diverged");
    expect(metrics.epochs).toHaveLength(1);
    expect(tf.memory().numTensors).toBe(before);
  });
});
