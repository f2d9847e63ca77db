import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { clipByGlobalNorm, OptimError } from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("clipByGlobalNorm", () => {
  it("returns the pre-clip norm and scales by maxNorm / (norm + 1e-6) when that is < 1", () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[0, 4]]) };
    const before = tf.memory().numTensors;
    const { grads: out, totalNorm, clipped } = clipByGlobalNorm(grads, 1);
    expect(totalNorm).toBeCloseTo(5, 6);
    expect(clipped).toBe(true);
    expect(Object.keys(out)).toEqual(["a", "b"]);
    expect(out.b!.shape).toEqual([1, 2]);
    const f = 1 / (5 + 1e-6);
    expect(Array.from(out.a!.dataSync())).toEqual([Math.fround(3 * f), 0]);
    expect(out.b!.dataSync()[1]).toBeCloseTo(4 * f, 7);
    // The inputs are untouched, and the only new tensors are the returned ones.
    expect(Array.from(grads.a.dataSync())).toEqual([3, 0]);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([grads, out]);
  });

  it("leaves gradients under the limit as they are (as copies) and accepts arrays", () => {
    const grads = [tf.tensor1d([0.3]), tf.tensor1d([0.4])];
    const result = clipByGlobalNorm(grads, 1);
    expect(result.clipped).toBe(false);
    expect(result.totalNorm).toBeCloseTo(0.5, 6);
    expect(result.grads[0]).not.toBe(grads[0]);
    expect(Array.from(result.grads[1]!.dataSync())).toEqual([Math.fround(0.4)]);
    tf.dispose([...grads, ...result.grads]);
    expect(clipByGlobalNorm({}, 1)).toEqual({ grads: {}, totalNorm: 0, clipped: false });
  });

  it("refuses non-finite norms, naming the gradients at fault, and creates nothing", () => {
    const grads = {
      "stem_conv/kernel": tf.tensor1d([1, Number.NaN]),
      "logits/bias": tf.tensor1d([Number.POSITIVE_INFINITY]),
      "stem_bn/gamma": tf.tensor1d([1]),
    };
    const before = tf.memory().numTensors;
    let error: unknown;
    try {
      clipByGlobalNorm(grads, 1);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OptimError);
    expect((error as OptimError).code).toBe("non_finite_norm");
    expect((error as OptimError).message).toMatch(
      /expected a finite gradient norm, got NaN \(non-finite norm in "stem_conv\/kernel", "logits\/bias"\)/,
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(grads);
  });

  it("rejects a non-positive maxNorm", () => {
    expect(() => clipByGlobalNorm([], 0)).toThrow(
      /maxNorm to be a finite number in \(0, ∞\), got 0/,
    );
  });
});
