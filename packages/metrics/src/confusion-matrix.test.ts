import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfusionMatrix, MetricsError } from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** Small deterministic generator so the random cases are reproducible. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("ConfusionMatrix", () => {
  it("equals tf.math.confusionMatrix on random labels", () => {
    const rand = lcg(42);
    const n = 500;
    const k = 7;
    const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * k));
    const predictions = Int32Array.from({ length: n }, (_, i) =>
      rand() < 0.6 ? labels[i]! : Math.floor(rand() * k),
    );
    const cm = new ConfusionMatrix({ numClasses: k }).update(labels, predictions);
    const expected = tf.tidy(() =>
      tf.math.confusionMatrix(tf.tensor1d(labels, "int32"), tf.tensor1d(predictions, "int32"), k),
    );
    expect(cm.toArray()).toEqual(expected.arraySync());
    expect(cm.total).toBe(n);
    expected.dispose();
  });

  it("scores a hand-computed case", () => {
    // true:  0 0 0 1 1 2 ; pred: 0 1 1 1 1 0
    const cm = new ConfusionMatrix({ numClasses: 3 }).update(
      [0, 0, 0, 1, 1, 2],
      [0, 1, 1, 1, 1, 0],
    );
    expect(cm.toArray()).toEqual([
      [1, 2, 0],
      [0, 2, 0],
      [1, 0, 0],
    ]);
    const [c0, c1, c2] = cm.classScores();
    expect(c0).toEqual({
      support: 3,
      correct: 1,
      predicted: 2,
      precision: 0.5,
      recall: 1 / 3,
      f1: 0.4,
    });
    expect(c1!.precision).toBe(0.5);
    expect(c1!.recall).toBe(1);
    expect(c1!.f1).toBeCloseTo(2 / 3, 12);
    // Never predicted, never right: 0 rather than NaN, so the JSON stays numeric.
    expect(c2).toEqual({ support: 1, correct: 0, predicted: 0, precision: 0, recall: 0, f1: 0 });
    expect(cm.mostConfused()).toEqual([
      { trueClass: 0, predictedClass: 1, count: 2, rate: 2 / 3 },
      { trueClass: 2, predictedClass: 0, count: 1, rate: 1 },
    ]);
    expect(cm.mostConfused(1)).toHaveLength(1);
  });

  it("merges, round-trips through toArray and resets", () => {
    const a = new ConfusionMatrix({ numClasses: 2 }).update([0, 1], [1, 1]);
    const b = ConfusionMatrix.fromArray([
      [3, 0],
      [1, 2],
    ]);
    a.merge(b);
    expect(a.toArray()).toEqual([
      [3, 1],
      [1, 3],
    ]);
    expect(a.total).toBe(8);
    expect(a.get(1, 0)).toBe(1);
    a.reset();
    expect(a.total).toBe(0);
    expect(a.toArray()).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });

  it("rejects bad input without counting any of it", () => {
    const cm = new ConfusionMatrix({ numClasses: 3 });
    expect(() => cm.update([0, 1], [0])).toThrow(
      /expected as many predictions as labels \(2\), got 1/,
    );
    expect(() => cm.update([0, 1], [0, 3])).toThrow(
      "ConfusionMatrix.update: predictions[1]: expected an integer class id in [0, 2], got 3",
    );
    expect(cm.total).toBe(0);
    expect(() => cm.merge(new ConfusionMatrix({ numClasses: 4 }))).toThrow(
      "ConfusionMatrix.merge: expected numClasses 3, got 4",
    );
    expect(() => new ConfusionMatrix({ numClasses: 1 })).toThrow(MetricsError);
    expect(() =>
      ConfusionMatrix.fromArray([
        [1, 2, 3],
        [4, 5, 6],
      ]),
    ).toThrow(/expected a 2×2 matrix, row 0 has 3 counts/);
    expect(() => cm.get(0, 3)).toThrow(/class ids in \[0, 2\], got \(0, 3\)/);
  });
});
