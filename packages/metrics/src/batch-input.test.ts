import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { readBatch } from "./batch-input.js";
import { isTensorLike, MetricsError } from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

function thrown(fn: () => unknown): MetricsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MetricsError);
    return err as MetricsError;
  }
  throw new Error("expected a MetricsError, nothing was thrown");
}

describe("readBatch", () => {
  it("reads flat arrays and tensors to the same values", () => {
    const values = [1, 2, 3, 4, 5, 6];
    const fromArray = readBatch(new Float32Array(values), [0, 2], undefined, 3);
    const logits = tf.tensor2d(values, [2, 3]);
    const labels = tf.tensor1d([0, 2], "int32");
    const fromTensor = readBatch(logits, labels, [10, 11], 3);
    expect(Array.from(fromTensor.logits)).toEqual(Array.from(fromArray.logits));
    expect(Array.from(fromTensor.labels)).toEqual([0, 2]);
    expect(fromTensor.size).toBe(2);
    expect(Array.from(fromTensor.indices!)).toEqual([10, 11]);
    tf.dispose([logits, labels]);
  });

  it("tells tensors from typed arrays structurally", () => {
    const t = tf.scalar(1);
    expect(isTensorLike(t)).toBe(true);
    expect(isTensorLike(new Float32Array(2))).toBe(false);
    expect(isTensorLike({ shape: [1] })).toBe(false);
    expect(isTensorLike(null)).toBe(false);
    t.dispose();
  });

  it("names the mismatched lengths", () => {
    const e = thrown(() => readBatch(new Float32Array(38), new Int32Array(4), undefined, 10));
    expect(e.code).toBe("shape_mismatch");
    expect(e.message).toBe(
      "logits: expected labels.length × numClasses = 4 × 10 = 40 values, got 38",
    );
    const logits = tf.zeros([3, 10]);
    expect(thrown(() => readBatch(logits, [1, 2], undefined, 10)).message).toBe(
      "labels: expected 3 labels (one per logits row), got 2",
    );
    expect(thrown(() => readBatch(logits, [1, 2, 3], [1], 10)).message).toMatch(
      /indices: expected 3 dataset indices/,
    );
    expect(thrown(() => readBatch(logits, [1, 2, 3], undefined, 5)).message).toBe(
      "logits: expected a [batch, 5] tensor, got shape [3, 10]",
    );
    logits.dispose();
  });

  it("points at the label out of range, with its dataset index", () => {
    const e = thrown(() => readBatch(new Float32Array(30), [0, 10, 1], [7, 8, 9], 10));
    expect(e.code).toBe("label_out_of_range");
    expect(e.message).toBe(
      "labels[1]: expected an integer class id in [0, 9], got 10 (dataset index 8)",
    );
    expect(thrown(() => readBatch(new Float32Array(20), [0, 1.5], undefined, 10)).code).toBe(
      "label_out_of_range",
    );
    expect(thrown(() => readBatch(new Float32Array(20), [0, -1], undefined, 10)).code).toBe(
      "label_out_of_range",
    );
  });

  it("rejects NaN logits, naming row and column; lets ±Infinity through", () => {
    const logits = new Float32Array(20);
    logits[13] = Number.NaN;
    const e = thrown(() => readBatch(logits, [0, 1], undefined, 10));
    expect(e.code).toBe("non_finite_logits");
    expect(e.message).toMatch(/^logits\[1\]\[3\]: expected a number, got NaN/);
    logits[13] = Number.POSITIVE_INFINITY;
    logits[2] = Number.NEGATIVE_INFINITY;
    expect(readBatch(logits, [0, 1], undefined, 10).size).toBe(2);
  });

  it("explains one-hot labels, disposed tensors and wrong types", () => {
    const onehot = tf.oneHot(tf.tensor1d([1, 2], "int32"), 3);
    expect(thrown(() => readBatch(new Float32Array(6), onehot, undefined, 3)).message).toMatch(
      /one-hot labels\? argMax them first/,
    );
    onehot.dispose();
    const logits = tf.zeros([2, 3]);
    logits.dispose();
    expect(thrown(() => readBatch(logits, [0, 1], undefined, 3)).code).toBe("disposed_tensor");
    expect(
      thrown(() => readBatch([1, 2, 3] as unknown as Float32Array, [0], undefined, 3)).message,
    ).toBe("logits: expected a Float32Array, Float64Array or tf.Tensor2D, got an array");
    expect(thrown(() => readBatch(new Float32Array(3), "0" as never, undefined, 3)).code).toBe(
      "invalid_input",
    );
  });
});
