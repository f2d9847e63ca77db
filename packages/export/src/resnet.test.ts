// Integration with @cnnkit/resnet: its real builders (layer names, its BatchNormalization
// subclass, projection shortcuts) go through exportModel, ONNX and verifyExport.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CIFAR10_CLASS_NAMES, CIFAR10_MEAN, CIFAR10_STD } from "@cnnkit/cifar10";
import { fastResNet, resnet20, smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { randomImages, randomizeWeights } from "./__fixtures__/tiny-resnet.js";
import { exportModel } from "./export-model.js";
import { normalizePixels } from "./image.js";
import { exportOnnx } from "./onnx-export.js";
import { verifyExport } from "./verify-export.js";

const normalization = { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };
const CLASSES = [...CIFAR10_CLASS_NAMES];

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("@cnnkit/resnet models", () => {
  it("smallResNet (narrow) exports and verifies: tfjs and ONNX match the original", async () => {
    const model = smallResNet({ widths: [4, 8], seed: 1 });
    randomizeWeights(model, 11); // BN statistics away from 0/1, as after training
    expect(model.getLayer("stage2_block1_shortcut_bn")).toBeDefined();
    const dir = join(await mkdtemp(join(tmpdir(), "cnnkit-resnet-")), "export");
    const images = randomImages(3, 32, 5);
    const { manifest } = await exportModel(model, dir, {
      classNames: CLASSES,
      normalization,
      quantize: [],
      evaluation: { images, labels: [1, 2, 3] },
    });
    expect(manifest.model.name).toBe("small_resnet");
    const before = tf.memory().numTensors;
    const report = await verifyExport(dir, { images, model });
    expect(tf.memory().numTensors).toBe(before);
    expect(report.artifacts.map((a) => [a.artifact, a.ok])).toEqual([
      ["tfjs", true],
      ["onnx", true],
    ]);
    model.dispose();
  });

  it("resnet20 (narrow) converts to ONNX with every BatchNorm folded and matches tfjs", async () => {
    const model = resnet20({ widths: [2, 4, 4], seed: 2 });
    randomizeWeights(model, 12);
    const onnx = exportOnnx(model);
    const bns = model.layers.filter((l) => l.getClassName() === "BatchNormalization").length;
    expect(bns).toBeGreaterThanOrEqual(19);
    expect(onnx.foldedBatchNorms).toBe(bns);
    const inputs = normalizePixels(randomImages(2, 32, 6), {
      input: { shape: [32, 32, 3], layout: "NHWC", dtype: "float32", channelOrder: "RGB" },
      normalization,
      preprocessing: { resize: "stretch", filter: "area-bilinear", pixelScale: 255, steps: [] },
    });
    const expected = tf.tidy(() =>
      (model.predict(tf.tensor(inputs, [2, 32, 32, 3])) as tf.Tensor).dataSync(),
    );
    const session = await ort.InferenceSession.create(onnx.bytes);
    const out = await session.run({ input: new ort.Tensor("float32", inputs, [2, 32, 32, 3]) });
    await session.release();
    const got = out.logits?.data as Float32Array;
    const diff = Math.max(...Array.from(got, (v, i) => Math.abs(v - (expected[i] as number))));
    expect(diff).toBeLessThan(1e-4);
    model.dispose();
  });

  it("fastResNet (narrow; whitening stem, max pools, GELU, logit scale) exports and verifies", async () => {
    for (const residual of [true, false]) {
      const model = fastResNet({ widths: [4, 8, 8], residual, seed: 3 });
      randomizeWeights(model, 13);
      const onnx = exportOnnx(model);
      // Six BatchNorms, each right after a conv or a max pool: folded where they follow a conv.
      expect(onnx.foldedBatchNorms).toBeLessThanOrEqual(6);
      const inputs = normalizePixels(randomImages(2, 32, 7), {
        input: { shape: [32, 32, 3], layout: "NHWC", dtype: "float32", channelOrder: "RGB" },
        normalization,
        preprocessing: { resize: "stretch", filter: "area-bilinear", pixelScale: 255, steps: [] },
      });
      const expected = tf.tidy(() =>
        (model.predict(tf.tensor(inputs, [2, 32, 32, 3])) as tf.Tensor).dataSync(),
      );
      const session = await ort.InferenceSession.create(onnx.bytes);
      const out = await session.run({
        input: new ort.Tensor("float32", inputs, [2, 32, 32, 3]),
      });
      await session.release();
      const got = out.logits?.data as Float32Array;
      const diff = Math.max(...Array.from(got, (v, i) => Math.abs(v - (expected[i] as number))));
      expect(diff).toBeLessThan(1e-4);
      // Not trivially small logits (the 1/9 scale is applied in both).
      expect(Math.max(...Array.from(expected, Math.abs))).toBeGreaterThan(1e-3);
      const dir = join(await mkdtemp(join(tmpdir(), "cnnkit-fast-")), "export");
      const images = randomImages(3, 32, 8);
      await exportModel(model, dir, { classNames: CLASSES, normalization, quantize: [] });
      const report = await verifyExport(dir, { images, model });
      expect(report.artifacts.map((a) => [a.artifact, a.ok])).toEqual([
        ["tfjs", true],
        ["onnx", true],
      ]);
      model.dispose();
    }
  });
});
