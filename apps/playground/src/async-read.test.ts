// The page's whole path — model, training (both recipes' code: SmallResNet + AdamW + clipping,
// fastResNet + whitening + decoupled SGD + lookahead), evaluation, the pictures, Grad-CAM and
// the export — on a backend whose synchronous reads throw, as WebGPU's do in Node (and stall a
// page's GPU): it must read everything with await.
import "@tensorflow/tfjs-backend-cpu";
import { registerTrainingKernels } from "@cnnkit/backends";
import { CIFAR10_IMAGE_BYTES, type Cifar10Split } from "@cnnkit/cifar10";
import { useAsyncOnlyBackend } from "@cnnkit/vitest-config/async-only-backend";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportFiles } from "./export-files.js";
import { augmentedPreview, explainImage, resultsOf } from "./inspect.js";
import { PRESETS, type Recipe } from "./presets.js";
import { runTraining } from "./run.js";

/** `n` seeded random images whose label shifts their mean colour (learnable, a little). */
function syntheticSplit(n: number, seed: number): Cifar10Split {
  const images = new Uint8Array(n * CIFAR10_IMAGE_BYTES);
  const labels = new Uint8Array(n);
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  for (let i = 0; i < n; i++) {
    labels[i] = i % 10;
    for (let j = 0; j < CIFAR10_IMAGE_BYTES; j++) {
      images[i * CIFAR10_IMAGE_BYTES + j] = Math.floor(next() * 128 + labels[i]! * 12);
    }
  }
  return { images, labels, length: n };
}

const data = { train: syntheticSplit(96, 1), test: syntheticSplit(40, 2) };
const control = { untilResumed: async () => {}, stopRequested: false };

/** Trains `recipe` on the active backend; every step's loss and every epoch's test figures. */
async function train(recipe: Recipe) {
  const losses: number[] = [];
  const epochs: number[][] = [];
  const run = await runTraining(recipe, data, control, {
    onStep: (report) => losses.push(report.loss),
    onEpoch: (report) => epochs.push([report.trainLoss, report.testLoss, report.testAccuracy]),
    onEvaluating: () => {},
  });
  return { run, losses, epochs };
}

const RECIPES: Recipe[] = [
  { ...PRESETS.smoke, trainImages: 96, testImages: 40, epochs: 1 },
  {
    ...PRESETS.cpu,
    widths: [8, 16, 16],
    batchSize: 32,
    trainImages: 96,
    testImages: 40,
    epochs: 2,
    whitenBiasEpochs: 1,
  },
];

beforeAll(async () => {
  // cnnkit's cpu training kernels (the gradient convolutions tfjs's cpu backend runs slowly),
  // copied with the rest of cpu's kernels.
  registerTrainingKernels();
  await useAsyncOnlyBackend(tf);
});
afterAll(async () => {
  await tf.setBackend("cpu");
});

describe("the page's path on a backend read only asynchronously", () => {
  for (const recipe of RECIPES) {
    it(`${recipe.model}: trains, evaluates, explains and exports without a synchronous read`, async () => {
      expect(() => tf.scalar(1).dataSync()).toThrow(/synchronous read/);
      const preview = await augmentedPreview(data.train, recipe);
      expect(preview.svg).toContain("<svg");
      await tf.setBackend("cpu");
      const onCpu = await train(recipe);
      onCpu.run.model.dispose();
      await useAsyncOnlyBackend(tf);
      const { run, losses, epochs } = await train(recipe);
      expect(run.steps).toBe(recipe.epochs * Math.ceil(96 / recipe.batchSize));
      // The same arithmetic as on cpu, to the bit: only the reads differ.
      expect(losses).toEqual(onCpu.losses);
      expect(epochs).toEqual(onCpu.epochs);
      expect(losses.every(Number.isFinite)).toBe(true);
      const { result, filtersSvg } = await resultsOf(run.model, data.test);
      expect(result.examples).toBe(40);
      expect(filtersSvg).toContain("<svg");
      const explained = await explainImage(
        run.model,
        data.test.images.subarray(0, CIFAR10_IMAGE_BYTES),
        "test image 0",
        data.test.labels[0]!,
      );
      expect(explained.overlayPng.length).toBeGreaterThan(100);
      const files = await exportFiles(run.model, { testAccuracy: result.accuracy });
      expect(files.map((f) => f.name)).toEqual([
        "model.json",
        "group1-shard1of1.bin",
        "model.onnx",
        "manifest.json",
      ]);
      run.model.dispose();
    }, 120_000);
  }
});
