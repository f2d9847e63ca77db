import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { randomImages, tinyResNet } from "./__fixtures__/tiny-resnet.js";
import { ExportError } from "./errors.js";
import { onnxRuntimeForward } from "./onnx-runtime-forward.js";
import { type TTALevel, ttaLogits } from "./test-time-augmentation.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** Images scaled to about [-2, 2], NHWC. */
function batch(n: number, seed: number): tf.Tensor4D {
  const pixels = Float32Array.from(randomImages(n, 32, seed), (v) => v / 64 - 2);
  return tf.tensor4d(pixels, [n, 32, 32, 3]);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe("onnxRuntimeForward", () => {
  it("gives the logits model.apply(x, { training: false }) gives, at every TTA level", async () => {
    const model = tinyResNet({ width: 8, seed: 5 });
    const forward = await onnxRuntimeForward(model, { threads: 2 });
    expect(forward.threads).toBe(2);
    expect(forward.foldedBatchNorms).toBe(6);
    const x = batch(5, 11);
    for (const level of [0, 1, 2] as TTALevel[]) {
      const expected = ttaLogits(
        (v) => model.apply(v, { training: false }) as tf.Tensor2D,
        x,
        level,
      );
      const before = tf.memory().numTensors;
      const got = await forward.logits(x, level);
      // One new tensor: the logits; the input is kept.
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(got.shape).toEqual([5, 10]);
      const e = expected.dataSync();
      expect(Math.max(...Array.from(e, Math.abs))).toBeGreaterThan(0.05);
      expect(maxAbsDiff(got.dataSync(), e)).toBeLessThan(1e-4);
      tf.dispose([got, expected]);
    }
    // The levels really differ, so the loop above compared different things.
    const [l0, l2] = [await forward.logits(x, 0), await forward.logits(x, 2)];
    expect(maxAbsDiff(l0.dataSync(), l2.dataSync())).toBeGreaterThan(1e-3);
    tf.dispose([l0, l2, x]);
    await forward.dispose();
    model.dispose();
  });

  it("keeps the weights it was made with; a new one sees new weights", async () => {
    const model = tinyResNet({ seed: 2 });
    const x = batch(3, 4);
    const read = async (t: Promise<tf.Tensor> | tf.Tensor) => {
      const tensor = await t;
      const values = tensor.dataSync().slice();
      tensor.dispose();
      return values;
    };
    const first = await onnxRuntimeForward(model);
    const before = await read(first.logits(x));
    // Training moves the weights: scale the head's kernel.
    const head = model.getLayer("logits");
    const [kernel, bias] = head.getWeights();
    tf.tidy(() => head.setWeights([tf.mul(kernel!, 2), bias!]));
    const still = await read(first.logits(x));
    expect(maxAbsDiff(still, before)).toBe(0);
    const second = await onnxRuntimeForward(model);
    const after = await read(second.logits(x));
    const expected = await read(model.apply(x, { training: false }) as tf.Tensor);
    expect(maxAbsDiff(after, expected)).toBeLessThan(1e-4);
    expect(maxAbsDiff(after, before)).toBeGreaterThan(1e-3);
    await Promise.all([first.dispose(), second.dispose()]);
    await expect(first.logits(x)).rejects.toThrow(/after dispose/);
    tf.dispose(x);
    model.dispose();
  });

  it("runs host arrays: the logits of count images", async () => {
    const model = tinyResNet({ seed: 9 });
    const forward = await onnxRuntimeForward(model, { threads: 1 });
    const x = batch(2, 3);
    const out = await forward.run(x.dataSync() as Float32Array, 2);
    expect(out.length).toBe(20);
    const expected = (model.apply(x, { training: false }) as tf.Tensor).dataSync();
    expect(maxAbsDiff(out, expected)).toBeLessThan(1e-4);
    await expect(forward.run(new Float32Array(100), 2)).rejects.toThrow(
      /expected 2 images of 32x32x3 \(6144 floats\), got 100 floats/,
    );
    tf.dispose(x);
    await forward.dispose();
    model.dispose();
  });

  it("refuses a batch of the wrong shape, bad threads and layers it cannot compile", async () => {
    const model = tinyResNet({ seed: 1 });
    const forward = await onnxRuntimeForward(model);
    const wrong = tf.zeros([2, 16, 16, 3]) as tf.Tensor4D;
    await expect(forward.logits(wrong)).rejects.toThrow(
      /expected an NHWC batch \[N, 32, 32, 3\], got \[2, 16, 16, 3\]/,
    );
    wrong.dispose();
    await forward.dispose();
    await expect(onnxRuntimeForward(model, { threads: 0 })).rejects.toThrow(
      /options.threads to be a positive integer, got 0/,
    );
    model.dispose();

    const input = tfl.input({ shape: [8, 8, 3] });
    const upsampled = tfl.layers.upSampling2d({ size: [2, 2], name: "up" }).apply(input);
    const odd = tfl.model({ inputs: input, outputs: upsampled as tfl.SymbolicTensor });
    const error = await onnxRuntimeForward(odd).catch((e: unknown) => e);
    expect(ExportError.isInstance(error) && error.code).toBe("onnx_unsupported");
    expect((error as Error).message).toMatch(/"up"/);
    odd.dispose();
  });
});
