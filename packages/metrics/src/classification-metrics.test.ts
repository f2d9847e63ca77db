import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import reference from "./__fixtures__/metrics.json" with { type: "json" };
import { ClassificationMetrics, MetricsError, type MetricsResult } from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** n random examples of k classes whose logits favour the true class, like a half-trained model. */
function randomData(n: number, k: number, seed: number) {
  const rand = lcg(seed);
  const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * k));
  const logits = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++)
      logits[i * k + c] = (rand() - 0.5) * 6 + (c === labels[i] ? 1.5 : 0);
  }
  const indices = Int32Array.from({ length: n }, (_, i) => 1000 + i);
  return { logits, labels, indices };
}

/** Rounds every float so results from different summation orders compare equal. */
function rounded(value: unknown): unknown {
  if (typeof value === "number") return Math.round(value * 1e10) / 1e10;
  if (Array.isArray(value)) return value.map(rounded);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rounded(v)]));
  }
  return value;
}

const softmax = (row: number[]) => {
  const z = row.reduce((a, v) => a + Math.exp(v), 0);
  return row.map((v) => Math.exp(v) / z);
};

describe("ClassificationMetrics", () => {
  it("computes every metric of a hand-worked batch", () => {
    const rows = [
      [2, 1, 0], // true 0, predicted 0
      [0, 3, 1], // true 2, predicted 1, true class ranked 2nd
      [1, 1, 0], // true 1, tie with class 0: argMax picks 0, true class ranked 2nd
      [0, 0, 5], // true 0, predicted 2; class 1 ties with class 0 but has the higher id,
      //            so the true class still ranks 2nd: a top-2 hit
    ];
    const labels = [0, 2, 1, 0];
    const m = new ClassificationMetrics({
      classNames: ["cat", "dog", "frog"],
      topK: [2, 1],
      calibrationBins: 2,
      worstPerClass: 3,
    });
    m.update(new Float32Array(rows.flat()), labels, [10, 11, 12, 13]);
    const r = m.result();
    const probs = rows.map(softmax);
    const conf = probs.map((p) => Math.max(...p));

    expect(r.examples).toBe(4);
    expect(r.accuracy).toBe(0.25);
    expect(r.topK).toEqual([
      { k: 1, accuracy: 0.25 },
      { k: 2, accuracy: 1 },
    ]);
    const losses = rows.map((_, i) => -Math.log(probs[i]![labels[i]!]!));
    expect(r.loss).toBeCloseTo(losses.reduce((a, b) => a + b) / 4, 12);
    expect(r.confusionMatrix).toEqual([
      [1, 0, 1],
      [1, 0, 0],
      [0, 1, 0],
    ]);
    expect(r.perClass.map((c) => [c.name, c.support, c.correct, c.predicted])).toEqual([
      ["cat", 2, 1, 2],
      ["dog", 1, 0, 1],
      ["frog", 1, 0, 1],
    ]);
    expect(r.perClass[0]).toMatchObject({ precision: 0.5, recall: 0.5, f1: 0.5 });
    expect(r.macro).toEqual({ precision: 0.5 / 3, recall: 0.5 / 3, f1: 0.5 / 3 });
    expect(r.weighted.recall).toBeCloseTo(0.25, 12);
    expect(r.mostConfused.map((p) => [p.trueClass, p.predictedClass, p.count, p.rate])).toEqual([
      [0, 2, 1, 0.5],
      [1, 0, 1, 1],
      [2, 1, 1, 1],
    ]);
    expect(r.perClass[0]!.worstMistakes).toEqual([
      {
        index: 13,
        trueClass: 0,
        predictedClass: 2,
        confidence: expect.closeTo(conf[3]!, 12),
        trueClassProbability: expect.closeTo(probs[3]![0]!, 12),
      },
    ]);
    expect(r.perClass[1]!.worstMistakes.map((x) => [x.index, x.predictedClass])).toEqual([[12, 0]]);
    expect(r.perClass[2]!.worstMistakes.map((x) => [x.index, x.predictedClass])).toEqual([[11, 1]]);
    // Two bins: row 2's confidence e/(2e+1) ≈ 0.42 falls in (0, 0.5]; the rest in (0.5, 1].
    const high = [0, 1, 3];
    expect(r.calibration.bins.map((b) => b.count)).toEqual([1, 3]);
    const highConf = high.reduce((a, i) => a + conf[i]!, 0) / 3;
    expect(r.calibration.bins[1]!.confidence).toBeCloseTo(highConf, 12);
    expect(r.calibration.ece).toBeCloseTo(
      0.25 * Math.abs(0 - conf[2]!) + 0.75 * Math.abs(1 / 3 - highConf),
      12,
    );
  });

  it("matches an independent PyTorch computation of every metric", () => {
    const m = new ClassificationMetrics({
      numClasses: reference.numClasses,
      calibrationBins: reference.calibrationBins,
    });
    const r = m.update(new Float32Array(reference.logits), reference.labels).result();
    expect(r.confusionMatrix).toEqual(reference.confusionMatrix);
    expect(r.accuracy).toBe(reference.top1);
    expect(r.topK).toEqual([
      { k: 1, accuracy: reference.top1 },
      { k: 5, accuracy: reference.top5 },
    ]);
    expect(r.loss).toBeCloseTo(reference.loss, 12);
    r.perClass.forEach((c, i) => {
      expect(c.precision).toBeCloseTo(reference.precision[i]!, 12);
      expect(c.recall).toBeCloseTo(reference.recall[i]!, 12);
      expect(c.f1).toBeCloseTo(reference.f1[i]!, 12);
    });
    expect(r.macro.f1).toBeCloseTo(reference.macroF1, 12);
    expect(r.calibration.bins.map((b) => b.count)).toEqual(reference.binCounts);
    expect(r.calibration.ece).toBeCloseTo(reference.ece, 12);
  });

  it("agrees with tf.math.confusionMatrix(argMax) and tf.inTopKAsync", async () => {
    const n = reference.labels.length;
    const k = reference.numClasses;
    const r = new ClassificationMetrics({ numClasses: k, topK: [1, 3, 5] })
      .update(new Float32Array(reference.logits), reference.labels)
      .result();
    const logits = tf.tensor2d(reference.logits, [n, k]);
    const labels = tf.tensor1d(reference.labels, "int32");
    const cm = tf.tidy(() => tf.math.confusionMatrix(labels, tf.argMax<tf.Tensor1D>(logits, 1), k));
    expect(r.confusionMatrix).toEqual(cm.arraySync());
    for (const { k: topK, accuracy } of r.topK) {
      const hits = await tf.inTopKAsync(logits, labels, topK);
      const expected = Array.from(hits.dataSync()).reduce((a, v) => a + v, 0) / n;
      expect(accuracy).toBe(expected);
      hits.dispose();
    }
    tf.dispose([logits, labels, cm]);
  });

  it("gives the same result for a tensor and a Float32Array, and leaks no tensor", () => {
    const { logits, labels, indices } = randomData(64, 10, 1);
    const a = new ClassificationMetrics({ numClasses: 10 }).update(logits, labels, indices);
    const before = tf.memory().numTensors;
    const t = tf.tensor2d(logits, [64, 10]);
    const l = tf.tensor1d(labels, "int32");
    const b = new ClassificationMetrics({ numClasses: 10 }).update(t, l, indices);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([t, l]);
    expect(tf.memory().numTensors).toBe(before);
    expect(b.result()).toEqual(a.result());
  });

  it("updateAsync reads tensors with data() and equals update", async () => {
    const { logits, labels, indices } = randomData(32, 10, 4);
    const t = tf.tensor2d(logits, [32, 10]);
    const l = tf.tensor1d(labels, "int32");
    const i = tf.tensor1d(indices, "int32");
    const before = tf.memory().numTensors;
    const a = await new ClassificationMetrics({ numClasses: 10 }).updateAsync(t, l, i);
    expect(tf.memory().numTensors).toBe(before);
    const b = new ClassificationMetrics({ numClasses: 10 }).update(logits, labels, indices);
    expect(a.result()).toEqual(b.result());
    // Same checks as update, before anything is read or counted.
    const onehot = tf.oneHot(l, 10);
    await expect(a.updateAsync(t, onehot)).rejects.toThrow(/one-hot labels\? argMax them first/);
    const narrow = tf.zeros([32, 9]);
    await expect(a.updateAsync(narrow, l)).rejects.toThrow(
      "logits: expected a [batch, 10] tensor, got shape [32, 9]",
    );
    const short = tf.slice(l, 0, 31);
    await expect(a.updateAsync(t, short)).rejects.toThrow(
      "labels: expected 32 labels (one per logits row), got 31",
    );
    expect(a.examples).toBe(32);
    tf.dispose([t, l, i, onehot, narrow, short]);
  });

  it("does not depend on batch order or batch size", () => {
    const n = 300;
    const k = 10;
    const { logits, labels, indices } = randomData(n, k, 7);
    const whole = new ClassificationMetrics({ numClasses: k }).update(logits, labels, indices);
    // Same examples, shuffled and fed in uneven batches.
    const rand = lcg(99);
    const order = Array.from({ length: n }, (_, i) => i).sort(() => rand() - 0.5);
    const shuffled = new ClassificationMetrics({ numClasses: k });
    for (let start = 0; start < n; ) {
      const size = Math.min(n - start, 1 + Math.floor(rand() * 40));
      const rows = order.slice(start, start + size);
      const batchLogits = new Float32Array(size * k);
      rows.forEach((r, i) => {
        batchLogits.set(logits.subarray(r * k, r * k + k), i * k);
      });
      shuffled.update(
        batchLogits,
        rows.map((r) => labels[r]!),
        rows.map((r) => indices[r]!),
      );
      start += size;
    }
    expect(rounded(shuffled.result())).toEqual(rounded(whole.result()));
  });

  it("merges accumulators split across workers, also through stateDict JSON", () => {
    const n = 200;
    const k = 10;
    const { logits, labels, indices } = randomData(n, k, 3);
    const options = { numClasses: k, worstPerClass: 3 };
    const whole = new ClassificationMetrics(options).update(logits, labels, indices);
    const workers = [0, 80, 150].map((start, w, starts) => {
      const end = starts[w + 1] ?? n;
      return new ClassificationMetrics(options).update(
        logits.subarray(start * k, end * k),
        labels.subarray(start, end),
        indices.subarray(start, end),
      );
    });
    const merged = new ClassificationMetrics(options);
    for (const worker of workers) {
      const remote = new ClassificationMetrics(options);
      remote.loadStateDict(JSON.parse(JSON.stringify(worker.stateDict())));
      merged.merge(remote);
    }
    expect(rounded(merged.result())).toEqual(rounded(whole.result()));
    expect(merged.examples).toBe(n);
  });

  it("keeps the most confident mistakes per class, ties by dataset index", () => {
    const m = new ClassificationMetrics({ numClasses: 3, worstPerClass: 2 });
    // All true class 0, all predicted class 1 with confidence rising by row; rows 2, 3 tie.
    const rows = [
      [0, 1, 0],
      [0, 2, 0],
      [0, 3, 0],
      [0, 3, 0],
      [5, 0, 0], // correct: never a mistake
    ];
    m.update(new Float32Array(rows.flat()), [0, 0, 0, 0, 0], [40, 30, 21, 20, 10]);
    expect(m.result().perClass[0]!.worstMistakes.map((x) => x.index)).toEqual([20, 21]);
    // Without indices, the position in the stream stands in for the dataset index.
    const n = new ClassificationMetrics({ numClasses: 3, worstPerClass: 1 });
    n.update(new Float32Array([5, 0, 0]), [0]);
    n.update(new Float32Array([0, 4, 0]), [0]);
    expect(n.result().perClass[0]!.worstMistakes.map((x) => x.index)).toEqual([1]);
  });

  it("produces JSON with stable field names", () => {
    const { logits, labels } = randomData(20, 10, 5);
    const r: MetricsResult = new ClassificationMetrics({ numClasses: 10 })
      .update(logits, labels)
      .result();
    expect(Object.keys(r)).toEqual([
      "version",
      "examples",
      "numClasses",
      "classNames",
      "accuracy",
      "topK",
      "loss",
      "labelSmoothing",
      "macro",
      "weighted",
      "perClass",
      "confusionMatrix",
      "mostConfused",
      "calibration",
    ]);
    expect(Object.keys(r.perClass[0]!)).toEqual([
      "classId",
      "name",
      "support",
      "correct",
      "predicted",
      "precision",
      "recall",
      "f1",
      "worstMistakes",
    ]);
    expect(Object.keys(r.calibration)).toEqual(["ece", "mce", "meanConfidence", "bins"]);
    expect(r.topK.map((t) => t.k)).toEqual([1, 5]);
    expect(r.calibration.bins).toHaveLength(15);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it("leaves its state untouched when a batch is rejected", () => {
    const m = new ClassificationMetrics({ numClasses: 3 });
    m.update(new Float32Array([1, 0, 0]), [0]);
    const before = JSON.stringify(m.stateDict());
    const nan = new Float32Array([1, 0, 0, 0, Number.NaN, 0]);
    expect(() => m.update(nan, [0, 1])).toThrow(/logits\[1\]\[1\]: expected a number, got NaN/);
    expect(() => m.update(new Float32Array(6), [0, 3])).toThrow(MetricsError);
    expect(() => m.update(new Float32Array(5), [0, 1])).toThrow(/2 × 3 = 6 values, got 5/);
    expect(JSON.stringify(m.stateDict())).toBe(before);
  });

  it("rejects inconsistent options, merges and states", () => {
    expect(() => new ClassificationMetrics({})).toThrow(
      /numClasses to be an integer ≥ 2, got undefined/,
    );
    expect(() => new ClassificationMetrics({ numClasses: 3, classNames: ["a", "b"] })).toThrow(
      "ClassificationMetrics: expected 3 classNames (numClasses), got 2",
    );
    expect(() => new ClassificationMetrics({ numClasses: 3, topK: [1, 5] })).toThrow(
      "ClassificationMetrics: expected each topK in [1, 3] (numClasses), got 5",
    );
    expect(() => new ClassificationMetrics({ numClasses: 3, calibrationBins: 0 })).toThrow(
      /calibrationBins/,
    );
    const a = new ClassificationMetrics({ numClasses: 10 });
    expect(() => a.merge(new ClassificationMetrics({ numClasses: 10, topK: [1, 3] }))).toThrow(
      "merge: expected topK [1, 5], got [1,3]",
    );
    expect(() =>
      a.merge(new ClassificationMetrics({ numClasses: 10, calibrationBins: 10 })),
    ).toThrow("merge: expected calibrationBins 15, got 10");
    const state = a.stateDict();
    expect(() => a.loadStateDict({ ...state, examples: 3 })).toThrow(
      /counting 3 examples, got 10×10 counting 0/,
    );
    expect(() => a.loadStateDict({ ...state, version: 2 } as never)).toThrow(/version 2/);
    const wrongClass = state.worstMistakes.map((_, c) =>
      c === 4
        ? [{ index: 1, trueClass: 3, predictedClass: 2, confidence: 0.9, trueClassProbability: 0 }]
        : [],
    );
    expect(() => a.loadStateDict({ ...state, worstMistakes: wrongClass })).toThrow(
      /worstMistakes\[4\]: expected mistakes of true class 4/,
    );
    expect(() => a.result()).toThrow(/expected at least one example, got 0/);
  });

  it("resets for the next epoch", () => {
    const { logits, labels } = randomData(10, 10, 2);
    const m = new ClassificationMetrics({ numClasses: 10 }).update(logits, labels);
    m.reset();
    expect(m.examples).toBe(0);
    m.update(logits, labels);
    expect(m.result()).toEqual(
      new ClassificationMetrics({ numClasses: 10 }).update(logits, labels).result(),
    );
  });
});

describe("±Infinity logits (a model whose weights overflowed)", () => {
  const inf = Number.POSITIVE_INFINITY;
  it("scores them through softmax's limit instead of throwing", () => {
    const m = new ClassificationMetrics({ numClasses: 3 });
    // Row 0: +Inf on the true class → right, probability 1, loss 0.
    // Row 1: +Inf on a wrong class → wrong, loss +Infinity.
    // Row 2: all −Inf → a uniform guess: argmax 0 (the first), loss ln 3.
    // Row 3: −Inf on the true class only, finite maximum → wrong, loss +Infinity.
    // Row 4: two +Inf, one of them true → they share: confidence 1/2, loss ln 2.
    m.update(
      new Float32Array([inf, 0, -inf, 0, inf, 1, -inf, -inf, -inf, 2, -inf, 1, inf, 5, inf]),
      [0, 0, 0, 1, 2],
    );
    const r = m.result();
    expect(r.examples).toBe(5);
    expect(r.confusionMatrix).toEqual([
      [2, 1, 0],
      [1, 0, 0],
      [1, 0, 0],
    ]);
    expect(r.accuracy).toBeCloseTo(2 / 5, 12);
    expect(r.loss).toBe(inf);
    expect(r.perClass[0]!.worstMistakes[0]).toMatchObject({
      confidence: 1,
      trueClassProbability: 0,
    });
    const finite = new ClassificationMetrics({ numClasses: 3 });
    finite.update(new Float32Array([inf, 0, -inf, -inf, -inf, -inf, inf, 5, inf]), [0, 0, 2]);
    expect(finite.result().loss).toBeCloseTo((0 + Math.log(3) + Math.log(2)) / 3, 12);
  });

  it("still refuses NaN", () => {
    const m = new ClassificationMetrics({ numClasses: 3 });
    expect(() => m.update(new Float32Array([0, Number.NaN, inf]), [0])).toThrow(
      /logits\[0\]\[1\]: expected a number, got NaN/,
    );
  });
});
