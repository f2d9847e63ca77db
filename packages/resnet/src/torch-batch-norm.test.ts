import * as tf from "@tensorflow/tfjs-core";
import { layers } from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { expectClose, useCpu } from "../test/helpers.js";
import { torchBatchNorm } from "./torch-batch-norm.js";

beforeAll(useCpu);

const args = { epsilon: 1e-5, momentum: 0.9 };

describe("torchBatchNorm", () => {
  it("updates the moving variance with the unbiased batch variance, as PyTorch does", () => {
    const before = tf.memory().numTensors;
    const bn = torchBatchNorm({ ...args, unbiasedMovingVariance: true });
    // n = 2*2*1 = 4 values per channel.
    const x = tf.tensor4d([1, 2, 3, 6, 0, 0, 4, 0], [2, 2, 1, 2]);
    tf.tidy(() => {
      bn.apply(x, { training: true });
    });
    const [, , movingMean, movingVariance] = bn.weights;
    // channel 0: 1, 3, 0, 4 → mean 2, unbiased var 10/3; channel 1: 2, 6, 0, 0 → mean 2, var 8.
    tf.tidy(() => {
      expectClose(movingMean!.read(), tf.tensor1d([0.2, 0.2]), 1e-6, "moving mean");
      expectClose(
        movingVariance!.read(),
        tf.tensor1d([0.9 + 0.1 * (10 / 3), 0.9 + 0.1 * 8]),
        1e-6,
        "moving var",
      );
    });
    x.dispose();
    bn.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [false, "and in stats"],
    [true, "(stats differ by design)"],
  ])(
    "with unbiasedMovingVariance %s, matches tfjs's built-in layer in outputs and gradients %s",
    (unbiased) => {
      const before = tf.memory().numTensors;
      const x = tf.randomNormal([3, 4, 4, 5], 1, 2, "float32", 11);
      const ours = torchBatchNorm({ ...args, unbiasedMovingVariance: unbiased });
      const builtin = layers.batchNormalization(args);
      const run = (layer: typeof builtin) =>
        tf.tidy(() => {
          layer.apply(x); // builds the weights; inference leaves the statistics alone
          const [gamma, beta] = layer.trainableWeights;
          gamma!.write(tf.linspace(0.5, 1.5, 5));
          beta!.write(tf.linspace(-1, 1, 5));
          const w = tf.randomNormal(x.shape, 0, 1, "float32", 12);
          const f = (input: tf.Tensor) =>
            tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, w));
          const { value, grads } = tf.variableGrads(
            () => f(x) as tf.Scalar,
            [gamma!.read() as tf.Variable, beta!.read() as tf.Variable],
          );
          const dx = tf.grad(f)(x);
          return [
            value,
            dx,
            ...Object.values(grads),
            ...(unbiased ? [] : layer.nonTrainableWeights.map((v) => v.read().clone())),
          ];
        });
      const a = run(ours);
      const b = run(builtin);
      expect(a).toHaveLength(unbiased ? 4 : 6);
      expect(a).toHaveLength(b.length);
      for (const [i, t] of a.entries()) expectClose(t, b[i]!, 1e-5, `output ${i}`);
      tf.dispose([...a, ...b, x]);
      ours.dispose();
      builtin.dispose();
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it("normalises with the moving statistics in inference", () => {
    const bn = torchBatchNorm({ ...args, unbiasedMovingVariance: true });
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    tf.tidy(() => {
      const y = bn.apply(x) as tf.Tensor; // fresh stats: mean 0, variance 1
      expectClose(y, tf.div(x, Math.sqrt(1 + 1e-5)), 1e-6, "inference");
    });
    x.dispose();
    bn.dispose();
  });

  it("with trainableScale: false keeps gamma a frozen weight of ones, in tfjs's weight order", () => {
    const before = tf.memory().numTensors;
    const frozen = torchBatchNorm({ ...args, unbiasedMovingVariance: true, trainableScale: false });
    const free = torchBatchNorm({ ...args, unbiasedMovingVariance: true });
    const x = tf.randomNormal([3, 4, 4, 5], 1, 2, "float32", 13);
    tf.tidy(() => {
      const outputs = [frozen, free].map(
        (layer) => layer.apply(x, { training: true }) as tf.Tensor,
      );
      expectClose(outputs[0]!, outputs[1]!, 1e-6, "same outputs with gamma = 1");
    });
    const order = (layer: typeof frozen) =>
      layer.weights.map((w) => w.originalName.split("/").at(-1));
    expect(order(frozen)).toEqual(order(free));
    expect(frozen.trainableWeights.map((w) => w.originalName.split("/").at(-1))).toEqual(["beta"]);
    expect(frozen.nonTrainableWeights).toHaveLength(3);
    // Unfreezing the layer (as model.trainable = true does) leaves gamma out.
    frozen.trainable = false;
    frozen.trainable = true;
    expect(frozen.trainableWeights).toHaveLength(1);
    // getWeights/setWeights use that order too: a copy between the two layers is exact.
    tf.tidy(() => {
      frozen.trainableWeights[0]!.write(tf.fill([5], 0.5));
    });
    free.setWeights(frozen.getWeights());
    expect(
      free
        .getWeights()
        .map((w) => w.dataSync()[0])
        .slice(0, 2),
    ).toEqual([1, 0.5]);
    // Nothing of it in the config: it serialises as a plain BatchNormalization.
    expect({ ...frozen.getConfig(), name: "" }).toEqual({ ...free.getConfig(), name: "" });
    x.dispose();
    frozen.dispose();
    free.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("serialises as the built-in BatchNormalization", () => {
    const bn = torchBatchNorm({ ...args, name: "bn", unbiasedMovingVariance: true });
    expect(bn.getClassName()).toBe("BatchNormalization");
    expect(bn.getConfig()).toMatchObject({ epsilon: 1e-5, momentum: 0.9, name: "bn" });
    expect(bn.getConfig()).not.toHaveProperty("unbiasedMovingVariance");
  });
});
