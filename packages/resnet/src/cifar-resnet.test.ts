import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test/helpers.js";
import { blockOutputNames, cifarResNet, ResNetError } from "./index.js";

beforeAll(useCpu);

describe("cifarResNet", () => {
  it("builds any number of blocks per stage", () => {
    const m = cifarResNet({ widths: [4, 8], blocks: [1, 3] });
    expect(blockOutputNames(m)).toEqual([
      "stage1_block1_out",
      "stage2_block1_out",
      "stage2_block2_out",
      "stage2_block3_out",
    ]);
    expect(m.name).toBe("cifar_resnet");
    m.dispose();
  });

  it('builds a plain network (no residual path) with shortcut: "none"', () => {
    const m = cifarResNet({ widths: [4, 8], blocks: [2, 2], shortcut: "none" });
    expect(m.layers.filter((l) => l.getClassName() === "Add")).toEqual([]);
    expect(m.layers.filter((l) => l.name.includes("shortcut"))).toEqual([]);
    expect(blockOutputNames(m)).toHaveLength(4);
    m.dispose();
  });

  it("refuses blocks that do not match widths", () => {
    const call = () => cifarResNet({ widths: [4, 8], blocks: [2] });
    expect(call).toThrow(ResNetError);
    expect(call).toThrow(
      "blocks: expected one positive block count per stage width (2 widths), got [2]",
    );
  });

  it("trains: one SGD step in train mode lowers the loss on a fixed batch", () => {
    const before = tf.memory().numTensors;
    const m = cifarResNet({ widths: [4, 8], blocks: [1, 1], seed: 3, inputShape: [8, 8, 3] });
    const x = tf.randomNormal([4, 8, 8, 3], 0, 1, "float32", 4);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 3], "int32"), 10));
    const optimizer = tf.train.sgd(0.05);
    const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
    const lossOf = () =>
      tf.losses.softmaxCrossEntropy(y, m.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const loss = optimizer.minimize(lossOf, true, vars)!;
      losses.push(loss.dataSync()[0]!);
      loss.dispose();
    }
    expect(losses[2]!).toBeLessThan(losses[0]!);
    tf.dispose([x, y]);
    optimizer.dispose();
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
