import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CIFAR10_CLASS_NAMES, CIFAR10_MEAN, CIFAR10_STD } from "@cnnkit/cifar10";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { randomImages, tinyResNet } from "./__fixtures__/tiny-resnet.js";
import { ExportError } from "./errors.js";
import { exportModel } from "./export-model.js";
import { predict } from "./predict.js";
import { ttaLogits, ttaLogitsAsync, ttaView, ttaViews } from "./test-time-augmentation.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

// A 1×3×3×1 image whose pixel (i, j) is 10·i + j.
const grid = () => tf.tensor4d([0, 1, 2, 10, 11, 12, 20, 21, 22], [1, 3, 3, 1]);

describe("ttaView", () => {
  it("mirrors left-right", () => {
    const v = ttaView(grid(), { mirror: true, shift: 0, weight: 1 });
    expect(Array.from(v.dataSync())).toEqual([2, 1, 0, 12, 11, 10, 22, 21, 20]);
  });

  it("shifts by one pixel with reflect padding (the edge pixel is not repeated)", () => {
    // Content moves down-right: out(i, j) = in(i − 1, j − 1), row/column −1 reflected to 1.
    const down = ttaView(grid(), { mirror: false, shift: 1, weight: 1 });
    expect(Array.from(down.dataSync())).toEqual([11, 10, 11, 1, 0, 1, 11, 10, 11]);
    // Content moves up-left: out(i, j) = in(i + 1, j + 1), row/column 3 reflected to 1.
    const up = ttaView(grid(), { mirror: false, shift: -1, weight: 1 });
    expect(Array.from(up.dataSync())).toEqual([11, 12, 11, 21, 22, 21, 11, 12, 11]);
  });

  it("shifts first, then mirrors", () => {
    // A 4×4 image (pixel (i, j) = 10·i + j): moved down-right by one, then each row reversed.
    const x = tf.tensor4d(
      Array.from({ length: 16 }, (_, k) => 10 * Math.floor(k / 4) + (k % 4)),
      [1, 4, 4, 1],
    );
    const v = ttaView(x, { mirror: true, shift: 1, weight: 1 });
    expect(Array.from(v.dataSync())).toEqual([
      12, 11, 10, 11, 2, 1, 0, 1, 12, 11, 10, 11, 22, 21, 20, 21,
    ]);
  });
});

describe("ttaLogits", () => {
  // A "model" that is not mirror- or shift-invariant: logits = [sum of pixel·column, sum of pixel·row].
  const logitsOf = (x: tf.Tensor4D) =>
    tf.tidy(() => {
      const [, h, w] = x.shape;
      const col = tf.tensor4d(
        Array.from({ length: h * w }, (_, k) => k % w),
        [1, h, w, 1],
      );
      const row = tf.tensor4d(
        Array.from({ length: h * w }, (_, k) => Math.floor(k / w)),
        [1, h, w, 1],
      );
      return tf.stack(
        [tf.sum(tf.mul(x, col), [1, 2, 3]), tf.sum(tf.mul(x, row), [1, 2, 3])],
        1,
      ) as tf.Tensor2D;
    });

  it("weights the views as ttaViews says, which sum to 1", () => {
    for (const level of [0, 1, 2] as const) {
      const views = ttaViews(level);
      expect(views.reduce((a, v) => a + v.weight, 0)).toBeCloseTo(1, 12);
      const x = grid();
      const expected = new Float64Array(2);
      for (const view of views) {
        const l = logitsOf(ttaView(x, view)).dataSync();
        expected[0]! += view.weight * l[0]!;
        expected[1]! += view.weight * l[1]!;
      }
      const got = ttaLogits(logitsOf, x, level).dataSync();
      expect(got[0]).toBeCloseTo(expected[0]!, 4);
      expect(got[1]).toBeCloseTo(expected[1]!, 4);
    }
    // airbench's weights: ½ the mirrored pair, ¼ each mirrored pair shifted up-left / down-right.
    expect(ttaViews(2).map((v) => [v.mirror, v.shift, v.weight])).toEqual([
      [false, 0, 0.25],
      [true, 0, 0.25],
      [false, 1, 0.125],
      [true, 1, 0.125],
      [false, -1, 0.125],
      [true, -1, 0.125],
    ]);
  });

  it("level 1 of a mirror-antisymmetric feature cancels it; level 0 keeps it", () => {
    // Column-weighted sum minus its mirror: the mean over the image and its mirror is constant.
    const x = grid();
    const l0 = ttaLogits(logitsOf, x, 0).dataSync();
    const l1 = ttaLogits(logitsOf, x, 1).dataSync();
    expect(l0[0]).toBe(0 * 0 + 1 * 1 + 2 * 2 + 0 * 10 + 1 * 11 + 2 * 12 + 0 * 20 + 1 * 21 + 2 * 22);
    // The mirror of column-weighted sums: Σ p·(2 − j); the mean of both is Σ p.
    expect(l1[0]).toBeCloseTo(99, 4);
  });

  it("leaves no tensors but the result, and refuses an unknown level", () => {
    const x = grid();
    const before = tf.memory().numTensors;
    const out = ttaLogits(logitsOf, x, 2);
    expect(tf.memory().numTensors).toBe(before + 1);
    out.dispose();
    expect(() => ttaLogits(logitsOf, x, 3 as 2)).toThrow(ExportError);
    expect(() => ttaViews(-1 as 0)).toThrow(/expected 0, 1 or 2, got -1/);
  });

  it("the host-array form gives the same logits", async () => {
    const x = tf.div(tf.tensor4d(randomImages(3, 32, 5), [3, 32, 32, 3]), 255) as tf.Tensor4D;
    const inputs = x.dataSync() as Float32Array;
    const sync = ttaLogits(logitsOf, x, 2).dataSync();
    const run = async (data: Float32Array, n: number) =>
      logitsOf(tf.tensor4d(data, [n, 32, 32, 3])).dataSync() as Float32Array;
    const before = tf.memory().numTensors;
    const host = await ttaLogitsAsync(run, inputs, [3, 32, 32, 3], 2);
    expect(
      Array.from(host).map((v, i) => Math.abs(v - sync[i]!) <= 1e-3 * Math.max(1, Math.abs(v))),
    ).toEqual(new Array(6).fill(true));
    // The runner's own tensors aside (this one leaks by design), ttaLogitsAsync frees its views.
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(12);
  });
});

describe("predict with tta", () => {
  it("level 1 is the mean of the logits of the image and of its mirror", async () => {
    const model = tinyResNet({ seed: 9 });
    const dir = join(await mkdtemp(join(tmpdir(), "cnnkit-tta-")), "export");
    await exportModel(model, dir, {
      classNames: [...CIFAR10_CLASS_NAMES],
      normalization: { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] },
      quantize: [],
    });
    model.dispose();
    const data = randomImages(1, 32, 31).subarray(0, 32 * 32 * 3);
    const mirrored = new Uint8Array(data.length);
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++)
          mirrored[(y * 32 + x) * 3 + c] = data[(y * 32 + 31 - x) * 3 + c]!;
      }
    }
    const image = { width: 32, height: 32, data: Uint8Array.from(data) };
    const [plain] = await predict(dir, [image], { tta: 0 });
    const [flipped] = await predict(dir, [{ width: 32, height: 32, data: mirrored }], { tta: 0 });
    const [both] = await predict(dir, [image], { tta: 1 });
    for (let k = 0; k < 10; k++) {
      expect(both!.logits[k]).toBeCloseTo((plain!.logits[k]! + flipped!.logits[k]!) / 2, 4);
    }
    // A non-symmetric network: the views really differ, so the average is not the plain logits.
    expect(
      Math.max(...plain!.logits.map((v, k) => Math.abs(v - flipped!.logits[k]!))),
    ).toBeGreaterThan(1e-4);
    await expect(predict(dir, [image], { tta: 5 as 2 })).rejects.toThrow(/expected 0, 1 or 2/);
  });
});
