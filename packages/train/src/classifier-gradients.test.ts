import { useBackend } from "@cnnkit/backends";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { classifierGradients, trainableVariables } from "./classifier-gradients.js";
import { TrainError } from "./errors.js";

beforeAll(() => useBackend("cpu", { threads: 1, onnxruntime: false }));

/** A small dense classifier over 6 features and 4 classes, seeded. */
function classifier(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({
        inputShape: [6],
        units: 5,
        activation: "relu",
        kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }),
      }),
      tfl.layers.dense({ units: 4, kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }) }),
    ],
  });
}

describe("classifierGradients", () => {
  for (const labelSmoothing of [0, 0.2]) {
    it(`equals tfjs's softmax cross-entropy and its gradients (label smoothing ${labelSmoothing})`, () => {
      const model = classifier();
      const x = tf.randomNormal([9, 6], 0, 1, "float32", 5);
      const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3, 3], "int32");
      const got = classifierGradients(model, x, y, { labelSmoothing });
      // tfjs-core's loss smooths as onehot·(1 − ε) + ε/K: the same target, built another way.
      const want = tf.variableGrads(
        () =>
          tf.losses.softmaxCrossEntropy(
            tf.oneHot(y, 4),
            model.apply(x) as tf.Tensor,
            undefined,
            labelSmoothing,
          ) as tf.Scalar,
        trainableVariables(model),
      );
      expect(got.value.dataSync()[0]).toBeCloseTo(want.value.dataSync()[0]!, 6);
      for (const [name, g] of Object.entries(want.grads)) {
        const a = got.grads[name]!.dataSync();
        const b = g.dataSync();
        for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 6);
      }
      const predicted = tf.argMax(model.apply(x) as tf.Tensor2D, 1).dataSync();
      const labels = y.dataSync();
      expect(got.correct.dataSync()[0]).toBe(
        Array.from(predicted).filter((p, i) => p === labels[i]).length,
      );
      model.dispose();
    });
  }

  it("accepts float labels holding class ids, and leaves only its results behind", () => {
    const model = classifier();
    const x = tf.randomNormal([3, 6], 0, 1, "float32", 6);
    const y = tf.tensor1d([1, 2, 0], "float32");
    const tensors = tf.memory().numTensors;
    const got = classifierGradients(model, x, y);
    expect(tf.memory().numTensors).toBe(tensors + 2 + Object.keys(got.grads).length);
    expect(Number.isFinite(got.value.dataSync()[0])).toBe(true);
    model.dispose();
  });

  it("refuses a label smoothing outside [0, 1)", () => {
    const model = classifier();
    const x = tf.zeros([1, 6]);
    const y = tf.tensor1d([0], "int32");
    expect(() => classifierGradients(model, x, y, { labelSmoothing: 1 })).toThrow(
      "classifierGradients: expected labelSmoothing in [0, 1), got 1",
    );
    model.dispose();
  });

  it("scales the gradients, not the loss, by lossScale (exactly, for a power of two)", () => {
    const model = classifier();
    const x = tf.randomNormal([5, 6], 0, 1, "float32", 7);
    const y = tf.tensor1d([0, 1, 2, 3, 0], "int32");
    const tensors = tf.memory().numTensors;
    const plain = classifierGradients(model, x, y);
    const scaled = classifierGradients(model, x, y, { lossScale: 1024 });
    // The unscaled loss comes back, and nothing else stays behind.
    expect(tf.memory().numTensors).toBe(tensors + 2 * (2 + Object.keys(plain.grads).length));
    expect(scaled.value.dataSync()[0]).toBe(plain.value.dataSync()[0]);
    for (const [name, g] of Object.entries(plain.grads)) {
      expect(Array.from(scaled.grads[name]!.dataSync())).toEqual(
        Array.from(g.dataSync(), (v) => v * 1024),
      );
    }
    for (const bad of [0, -1, Number.POSITIVE_INFINITY, Number.NaN]) {
      const error = (() => {
        try {
          classifierGradients(model, x, y, { lossScale: bad });
        } catch (e) {
          return e;
        }
      })();
      expect(TrainError.isInstance(error) && error.code).toBe("invalid_option");
      expect((error as Error).message).toBe(
        `classifierGradients: lossScale: expected a finite number > 0, got ${bad}`,
      );
    }
    model.dispose();
  });
});
