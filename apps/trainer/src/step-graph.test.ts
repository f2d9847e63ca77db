// `stepGraph`: each training step as one ONNX Runtime session, against the same run kernel by
// kernel. Needs onnxruntime-node (a dev dependency here) on x86-64.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unregisterOnnxRuntimeKernels, useBackend } from "@cnnkit/backends";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "./config.js";
import { runPaths } from "./run-dir.js";
import { QuietProgress, syntheticData, tinyConfig, useCpu, weightsOf } from "./test-helpers.js";
import { type TrainOptions, train } from "./train.js";

// 28 images at batch 8: three steps of 8 and a last one of 4 (a second session) per epoch.
const data = syntheticData(28, 10);

/** The fast recipe at toy size, its stem bias freezing after the first of two epochs. */
const fastConfig = (stepGraph: boolean | "auto") =>
  resolveConfig("cpu", {
    widths: [8, 16, 16],
    epochs: 2,
    batchSize: 8,
    whitenBiasEpochs: 1,
    tta: 0,
    export: false,
    backend: "cpu",
    trainSubset: null,
    testSubset: null,
    stepGraph,
  });

async function run(
  stepGraph: boolean | "auto",
  options: Partial<TrainOptions> = {},
  config = fastConfig(stepGraph),
) {
  const runDir = await mkdtemp(join(tmpdir(), "cnnkit-step-graph-"));
  const progress = new QuietProgress();
  const result = await train(config, { runDir, data, progress, ...options });
  return {
    result,
    lines: progress.lines.join(""),
    weights: await weightsOf(runPaths(runDir).last),
  };
}

describe("stepGraph", () => {
  beforeAll(async () => {
    await useBackend("cpu", { trainingKernels: true, onnxruntime: true });
  });
  afterAll(async () => {
    unregisterOnnxRuntimeKernels();
    await useCpu();
  });

  it("trains fast-resnet as the kernel-by-kernel run does: losses, accuracies and weights", async () => {
    const layers = await run(false);
    const graph = await run(true);
    expect(graph.lines).toMatch(/training steps: one ONNX Runtime session each \(batch 8;/);
    expect(layers.lines).not.toMatch(/ONNX Runtime session each/);
    expect(graph.result.status).toBe("completed");
    expect(graph.result.globalStep).toBe(8);
    for (const [i, epoch] of graph.result.history.entries()) {
      const reference = layers.result.history[i];
      expect(epoch.trainLoss).toBeCloseTo(reference?.trainLoss as number, 4);
      expect(epoch.trainAccuracy).toBe(reference?.trainAccuracy);
    }
    // Every weight, the stem's bias included (it trained in epoch 1 only, in both runs).
    expect([...graph.weights.keys()].sort()).toEqual([...layers.weights.keys()].sort());
    for (const [name, values] of layers.weights) {
      const other = graph.weights.get(name) as Float32Array;
      const scale = Math.max(...values.map(Math.abs), 1e-3);
      const diff = Math.max(...values.map((v, k) => Math.abs(v - (other[k] as number))));
      expect(diff / scale, name).toBeLessThan(1e-3);
    }
  });

  it('"auto" (the default) takes it where it can, and says why not on a model it cannot write', async () => {
    expect((await run("auto")).lines).toMatch(/training steps: one ONNX Runtime session each/);
    // A network with an average pooling, which the graph does not write: kernel by kernel.
    const buildModel = (classes: number) => {
      const x = tfl.input({ shape: [32, 32, 3] });
      let y = tfl.layers.conv2d({ filters: 8, kernelSize: 3 }).apply(x) as tfl.SymbolicTensor;
      y = tfl.layers.averagePooling2d({ poolSize: 30 }).apply(y) as tfl.SymbolicTensor;
      y = tfl.layers.flatten().apply(y) as tfl.SymbolicTensor;
      y = tfl.layers.dense({ units: classes }).apply(y) as tfl.SymbolicTensor;
      return tfl.model({ inputs: x, outputs: y });
    };
    const custom = (stepGraph: boolean | "auto") =>
      tinyConfig({ stepGraph, replicas: 1, epochs: 1, export: false });
    const fallback = await run("auto", { buildModel }, custom("auto"));
    expect(fallback.result.status).toBe("completed");
    expect(fallback.lines).toMatch(
      /training steps: kernel by kernel \(.*\(AveragePooling2D\) is not supported/,
    );
    // Asked for explicitly, the same model is an error before the first step.
    await expect(run(true, { buildModel }, custom(true))).rejects.toThrow(
      /stepGraph: .*AveragePooling2D/,
    );
  });

  it("refuses a run whose convolutions are not on ONNX Runtime if asked, and is silent on auto", async () => {
    unregisterOnnxRuntimeKernels();
    await expect(run(true)).rejects.toThrow(
      /stepGraph: cannot run here: the convolutions are not on ONNX Runtime/,
    );
    const auto = await run("auto");
    expect(auto.result.status).toBe("completed");
    expect(auto.lines).not.toMatch(/training steps/);
  });
});
