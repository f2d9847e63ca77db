// Integration with @cnnkit/resnet: its real builders (layer names, its BatchNormalization
// subclass, projection shortcuts) go through exportModel, ONNX and verifyExport.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CIFAR10_CLASS_NAMES, CIFAR10_MEAN, CIFAR10_STD } from "@cnnkit/cifar10";
import { fastResNet, resnet20, smallResNet, whiteningKernel } from "@cnnkit/resnet";
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

  it("fastResNet's uint8 export keeps the whitening stem in float32, so it still verifies", async () => {
    // Smooth images (neighbouring pixels nearly equal) whiten to a wide-ranged stem, as CIFAR-10
    // does (±12 after training): one uint8 step of it would move the logits by more than 1.
    const smooth = tf.tidy(() => {
      const ramp = tf.reshape(tf.linspace(-1, 1, 32), [1, 1, 32, 1]);
      const base = tf.mul(tf.randomNormal([64, 1, 1, 3], 0, 1, "float32", 5), ramp);
      return tf.add(
        tf.add(base, tf.transpose(base, [0, 2, 1, 3])),
        tf.randomNormal([64, 32, 32, 3], 0, 0.02, "float32", 6),
      );
    }) as tf.Tensor4D;
    const whitening = whiteningKernel(smooth);
    smooth.dispose();
    expect(Math.max(...Array.from(whitening.dataSync(), Math.abs))).toBeGreaterThan(5);
    const model = fastResNet({ widths: [4, 8, 8], seed: 4, whitening });
    whitening.dispose();
    randomizeWeights(model, 14);
    const images = randomImages(8, 32, 9);
    const verdict = async (uint8MinElements: number) => {
      const dir = join(await mkdtemp(join(tmpdir(), "cnnkit-fast-u8-")), "export");
      await exportModel(model, dir, {
        classNames: CLASSES,
        normalization,
        quantize: ["uint8"],
        onnx: false,
        uint8MinElements,
      });
      const report = await verifyExport(dir, { images, model });
      return report.artifacts.find((a) => a.artifact === "tfjs-uint8")!;
    };
    const kept = await verdict(1024);
    const all = await verdict(0);
    expect(kept.ok).toBe(true);
    // Quantising the stem too is what failed: far larger logit errors.
    expect(all.maxAbsDiff).toBeGreaterThan(5 * kept.maxAbsDiff);
    model.dispose();
  });
});
