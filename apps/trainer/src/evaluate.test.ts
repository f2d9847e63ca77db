import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExportError } from "@cnnkit/export";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testBatches } from "./data.js";
import { evaluate } from "./evaluate.js";
import { buildModel } from "./model.js";
import { QuietProgress, syntheticData, tinyConfig, useCpu } from "./test-helpers.js";
import { train } from "./train.js";

let dir: string;
beforeAll(async () => {
  await useCpu();
  dir = await mkdtemp(join(tmpdir(), "cnnkit-evaluate-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Moves every BatchNorm's moving statistics and affine weights off their defaults (seeded). */
function randomizeBatchNorms(model: tfl.LayersModel): void {
  let seed = 1;
  for (const layer of model.layers) {
    if (layer.getClassName() !== "BatchNormalization") continue;
    layer.setWeights(
      layer.weights.map((w) => {
        seed += 1;
        const noise = tf.randomUniform(w.shape as number[], 0.5, 1.5, "float32", seed);
        // Means and offsets around 0, scales and variances around 1.
        return /moving_mean|beta/.test(w.name) ? tf.sub(noise, 1) : noise;
      }),
    );
  }
}

describe("evaluate on ONNX Runtime", () => {
  it("gives the metrics tfjs gives, with and without test-time augmentation", async () => {
    const config = tinyConfig();
    const data = syntheticData(8, 40);
    const model = buildModel(config, 10);
    randomizeBatchNorms(model);
    for (const tta of [0, 2] as const) {
      const before = tf.memory().numTensors;
      const viaTfjs = await evaluate(model, testBatches(data.test, config), data.classNames, {
        tta,
      });
      const viaOrt = await evaluate(model, testBatches(data.test, config), data.classNames, {
        tta,
        runtime: "onnxruntime",
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(viaOrt.examples).toBe(40);
      expect(viaOrt.loss).toBeCloseTo(viaTfjs.loss, 4);
      // An untrained net's logits are close together: the loss differs from ln(10) anyway.
      expect(Math.abs(viaTfjs.loss - Math.log(10))).toBeGreaterThan(1e-3);
      expect(viaOrt.accuracy).toBe(viaTfjs.accuracy);
      expect(viaOrt.confusionMatrix).toEqual(viaTfjs.confusionMatrix);
      expect(viaOrt.confusionMatrix.flat().reduce((a, b) => a + b, 0)).toBe(40);
    }
    model.dispose();
  });

  it("falls back to tfjs, saying why, for a layer the exporter does not know; throws without onFallback", async () => {
    const config = tinyConfig({ epochs: 2 });
    const data = syntheticData(16, 10);
    const build = (classes: number) => {
      const input = tfl.input({ shape: [32, 32, 3] });
      let x = tfl.layers.upSampling2d({ size: [1, 1], name: "resample" }).apply(input);
      x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same" }).apply(x);
      x = tfl.layers.globalAveragePooling2d({}).apply(x);
      const out = tfl.layers.dense({ units: classes }).apply(x) as tfl.SymbolicTensor;
      return tfl.model({ inputs: input, outputs: out });
    };
    const lone = build(10);
    const error = await evaluate(lone, testBatches(data.test, config), data.classNames, {
      runtime: "onnxruntime",
    }).catch((e: unknown) => e);
    expect(ExportError.isInstance(error) && error.code).toBe("onnx_unsupported");
    lone.dispose();

    const progress = new QuietProgress();
    const result = await train(config, {
      runDir: join(dir, "fallback"),
      data,
      progress,
      buildModel: build,
      evaluation: "onnxruntime",
    });
    expect(result.status).toBe("completed");
    expect(result.history).toHaveLength(2);
    const said = progress.lines.join("").split("\n");
    const fallbacks = said.filter((l) =>
      l.startsWith("evaluation: on tfjs instead of ONNX Runtime"),
    );
    // Said once, naming the layer; the second epoch evaluates on tfjs without trying again.
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]).toMatch(/"resample"/);
  });
});
