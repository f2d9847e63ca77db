// The fast recipe through the trainer: whitening stem from the data, the stem's bias frozen after
// whitenBiasEpochs, lookahead kept in checkpoints (a resumed run ends on the same bytes), the
// triangular schedule and decoupled SGD, and the final evaluation with and without TTA.
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listEventFiles, readEvents } from "@cnnkit/tensorboard";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { readTrainingState } from "./checkpoint.js";
import { resolveConfig } from "./config.js";
import { buildModel, whiteningOf } from "./model.js";
import { runPaths } from "./run-dir.js";
import { QuietProgress, syntheticData, useCpu, weightsOf } from "./test-helpers.js";
import { type MetricsFile, train } from "./train.js";

beforeAll(useCpu);

const data = syntheticData(40, 12);

/** The cpu preset shrunk: widths [4, 8, 8], batch 8 (5 steps an epoch), 3 epochs. */
const fastConfig = (patch: Parameters<typeof resolveConfig>[1] = {}) =>
  resolveConfig("cpu", {
    widths: [4, 8, 8],
    batchSize: 8,
    epochs: 3,
    whitenBiasEpochs: 1,
    backend: "cpu",
    export: false,
    logEvery: 1000,
    ...patch,
  });

describe("the fast recipe in the trainer", () => {
  it("builds the whitening stem from the training images, not the default kernel", () => {
    const config = fastConfig();
    const whitening = whiteningOf(data.train, config);
    expect(whitening).toBeInstanceOf(Float32Array);
    expect(whitening).toHaveLength(2 * 2 * 3 * 24);
    const model = buildModel(config, 10, whitening);
    const plain = buildModel(config, 10);
    const kernelOf = (m: typeof model) =>
      Array.from(m.getLayer("stem_conv").getWeights()[0]!.dataSync());
    expect(kernelOf(model)).toEqual(Array.from(whitening!));
    expect(kernelOf(model)).not.toEqual(kernelOf(plain));
    expect(whiteningOf(data.train, { ...config, whitening: false })).toBeUndefined();
    model.dispose();
    plain.dispose();
  });

  it("trains, freezes the stem's bias after whitenBiasEpochs, and reports TTA beside the plain accuracy", async () => {
    const runDir = await mkdtemp(join(tmpdir(), "cnnkit-fast-"));
    const config = fastConfig();
    const before = tf.memory().numTensors;
    const biasAfterEpoch: number[][] = [];
    const result = await train(config, {
      runDir,
      data,
      progress: new QuietProgress(),
      afterEpoch: ({ model }) => {
        biasAfterEpoch.push(Array.from(model.getLayer("stem_conv").getWeights()[1]!.dataSync()));
      },
    });
    expect(result.status).toBe("completed");
    expect(tf.memory().numTensors).toBe(before);
    // Epoch 1 trained the bias; epochs 2 and 3 left it where epoch 1 ended (5 steps an epoch:
    // the lookahead average was written back at step 5, so it cannot drag the bias either).
    expect(biasAfterEpoch[0]).not.toEqual(new Array(24).fill(0));
    expect(biasAfterEpoch[2]).toEqual(biasAfterEpoch[1]);

    const metrics = JSON.parse(await readFile(runPaths(runDir).metrics, "utf8")) as MetricsFile;
    expect(metrics.epochs.slice(0, 2).every((e) => e.testAccuracyTta === undefined)).toBe(true);
    const last = metrics.epochs.at(-1)!;
    expect(last.testAccuracyTta).toBeGreaterThanOrEqual(0);
    expect(metrics.final.lastTestAccuracyTta).toBe(last.testAccuracyTta);
    expect(metrics.final.lastTestAccuracy).toBe(last.testAccuracy);

    // The triangle: 0.2·peak at step 0, the peak at 23% of 15 steps (step 3), 0.07·peak at the end.
    const [eventFile] = await listEventFiles(runPaths(runDir).tensorboard);
    const { events } = await readEvents(eventFile!);
    const lrs = events
      .flatMap((e) => e.summary?.filter((v) => v.tag === "lr") ?? [])
      .map((v) => v.simpleValue as number);
    const peak = (11.5 / (1024 * (1 + 1 / 0.15))) * 8; // decoupledSGD's mean-loss lr at batch 8
    expect(lrs).toHaveLength(15);
    expect(lrs[0]).toBeCloseTo(0.2 * peak, 6);
    expect(lrs[3]).toBeCloseTo(peak, 6);
    expect(lrs[14]).toBeCloseTo(peak * (1 + (0.07 - 1) * (11 / 12)), 6);
  });

  it("resumes an interrupted run (lookahead and all) to the same bytes as an uninterrupted one", async () => {
    const config = fastConfig({ epochs: 2, whitenBiasEpochs: 1 });
    const straight = await mkdtemp(join(tmpdir(), "cnnkit-fast-straight-"));
    await train(config, { runDir: straight, data, progress: new QuietProgress() });

    const broken = await mkdtemp(join(tmpdir(), "cnnkit-fast-resumed-"));
    const controller = new AbortController();
    // Stop at step 2 of epoch 2: lookahead has averaged at step 5, not yet at step 10.
    const stopper = new QuietProgress((s) => {
      if (s.epoch === 2 && s.step === 2) controller.abort();
    });
    const first = await train(config, {
      runDir: broken,
      data,
      progress: stopper,
      signal: controller.signal,
    });
    expect(first.status).toBe("interrupted");
    expect(await readTrainingState(runPaths(broken).last)).toMatchObject({ epoch: 1, step: 2 });
    const saved = await readFile(join(runPaths(broken).last, "lookahead.json"), "utf8");
    expect(JSON.parse(saved)).toMatchObject({ kind: "lookahead", steps: 7 });
    await train(config, { runDir: broken, data, resume: true, progress: new QuietProgress() });

    const a = await weightsOf(runPaths(straight).last);
    const b = await weightsOf(runPaths(broken).last);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [name, values] of a) expect(b.get(name), name).toEqual(values);
  });
});
