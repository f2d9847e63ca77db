import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import fixtures from "./__fixtures__/cross-entropy.json" with { type: "json" };
import { crossEntropy, MetricsError } from "./index.js";
import { softmaxCrossEntropy } from "./tfjs.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("softmaxCrossEntropy (tensor loss)", () => {
  it.each(fixtures.cases)("matches PyTorch F.cross_entropy: $name", (c) => {
    const before = tf.memory().numTensors;
    const logits = tf.tensor2d(c.logits, [c.labels.length, c.numClasses]);
    const labels = tf.tensor1d(c.labels, "int32");
    const loss = softmaxCrossEntropy(logits, labels, { labelSmoothing: c.labelSmoothing });
    expect(loss.shape).toEqual([]);
    // float32 math in tfjs: relative 1e-5 (the huge case has losses up to ~1e3).
    expect(Math.abs(loss.dataSync()[0]! - c.loss)).toBeLessThanOrEqual(1e-5 * Math.max(1, c.loss));
    tf.dispose([logits, labels, loss]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("agrees with the float64 JS loss and with tf.losses.softmaxCrossEntropy", () => {
    const values = Float32Array.from({ length: 4 * 5 }, (_, i) => Math.sin(i * 1.7) * 4);
    const ids = [4, 0, 2, 2];
    const logits = tf.tensor2d(values, [4, 5]);
    const labels = tf.tensor1d(ids, "float32");
    const onehot = tf.oneHot(tf.tensor1d(ids, "int32"), 5);
    for (const labelSmoothing of [0, 0.1]) {
      const mine = softmaxCrossEntropy(logits, labels, { labelSmoothing });
      const theirs = tf.losses.softmaxCrossEntropy(onehot, logits, undefined, labelSmoothing);
      const js = crossEntropy(values, ids, { numClasses: 5, labelSmoothing });
      expect(mine.dataSync()[0]).toBeCloseTo(js, 5);
      expect(mine.dataSync()[0]).toBeCloseTo(theirs.dataSync()[0]!, 5);
      tf.dispose([mine, theirs]);
    }
    tf.dispose([logits, labels, onehot]);
  });

  it("has gradient (softmax − smoothed target) / batch", () => {
    const values = [1, 2, 3, -1, 0, 4];
    const logits = tf.tensor2d(values, [2, 3]);
    const labels = tf.tensor1d([2, 0], "int32");
    const eps = 0.2;
    const before = tf.memory().numTensors;
    const grad = tf.grad((x: tf.Tensor) =>
      softmaxCrossEntropy(x as tf.Tensor2D, labels, { labelSmoothing: eps }),
    )(logits);
    expect(tf.memory().numTensors).toBe(before + 1);
    const got = grad.dataSync();
    [2, 0].forEach((label, r) => {
      const row = values.slice(r * 3, r * 3 + 3);
      const z = row.reduce((a, v) => a + Math.exp(v), 0);
      for (let c = 0; c < 3; c++) {
        const target = (c === label ? 1 - eps : 0) + eps / 3;
        expect(got[r * 3 + c]).toBeCloseTo((Math.exp(row[c]!) / z - target) / 2, 6);
      }
    });
    tf.dispose([logits, labels, grad]);
  });

  it("rejects out-of-range labels and mismatched shapes", () => {
    const logits = tf.zeros([2, 3]) as tf.Tensor2D;
    const bad = tf.tensor1d([0, 3], "int32");
    const short = tf.tensor1d([0], "int32");
    expect(() => softmaxCrossEntropy(logits, bad)).toThrow(
      "softmaxCrossEntropy: labels[1]: expected an integer class id in [0, 2], got 3",
    );
    expect(() => softmaxCrossEntropy(logits, short)).toThrow(MetricsError);
    expect(() => softmaxCrossEntropy(logits, short)).toThrow(/expected labels of shape \[2\]/);
    tf.dispose([logits, bad, short]);
  });
});
