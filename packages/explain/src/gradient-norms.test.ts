import { smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { numbers, useCpu } from "../test/helpers.js";
import { ExplainError, gradientGroup, gradientNormsByBlock } from "./index.js";

let resnet: LayersModel;

beforeAll(async () => {
  await useCpu();
  resnet = smallResNet({ widths: [4, 8, 16], seed: 1 });
});
afterAll(() => resnet.dispose());

function filled(model: LayersModel, value: number): tf.NamedTensorMap {
  return Object.fromEntries(
    model.trainableWeights.map((w) => [w.name, tf.fill(w.shape as number[], value)]),
  );
}

describe("gradientNormsByBlock", () => {
  it("groups by block in forward order: the norm of all-ones gradients is √(parameters)", () => {
    const grads = filled(resnet, 1);
    const before = tf.memory().numTensors;
    const norms = gradientNormsByBlock(grads, resnet);
    expect(tf.memory().numTensors).toBe(before);
    // Hand-counted trainable parameters of smallResNet({ widths: [4, 8, 16] }):
    // conv3×3 in→out has 9·in·out, BN has 2·channels (γ, β), 1×1 projection in·out.
    const params = {
      stem: 9 * 3 * 4 + 8,
      stage1_block1: 2 * (9 * 4 * 4 + 8),
      stage1_block2: 2 * (9 * 4 * 4 + 8),
      stage2_block1: 9 * 4 * 8 + 16 + 9 * 8 * 8 + 16 + 4 * 8 + 16,
      stage2_block2: 2 * (9 * 8 * 8 + 16),
      stage3_block1: 9 * 8 * 16 + 32 + 9 * 16 * 16 + 32 + 8 * 16 + 32,
      stage3_block2: 2 * (9 * 16 * 16 + 32),
      logits: 16 * 10 + 10,
    };
    expect(Object.keys(norms)).toEqual(Object.keys(params));
    for (const [group, count] of Object.entries(params)) {
      expect(norms[group], group).toBeCloseTo(Math.sqrt(count), 4);
    }
    const doubled = filled(resnet, -2);
    expect(gradientNormsByBlock(doubled, resnet).stage2_block1).toBeCloseTo(
      2 * Math.sqrt(params.stage2_block1),
      4,
    );
    tf.dispose([...Object.values(grads), ...Object.values(doubled)]);
  });

  it("takes the map tf.variableGrads returns, for a second model with suffixed variable names", () => {
    const second = smallResNet({ widths: [4, 8, 16], seed: 3 });
    expect(second.getLayer("logits").trainableWeights[0]!.name).not.toBe("logits/kernel");
    const x = tf.tensor4d(numbers(3072, 4), [1, 32, 32, 3]);
    const { grads, value } = tf.variableGrads(
      () => tf.sum(tf.square(second.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
    );
    const norms = gradientNormsByBlock(grads, second);
    const [kernel, bias] = second.getLayer("logits").trainableWeights.map((w) => grads[w.name]!);
    const squares = [...kernel!.dataSync(), ...bias!.dataSync()].reduce((s, v) => s + v * v, 0);
    expect(norms.logits).toBeCloseTo(Math.sqrt(squares), 4);
    expect(Object.keys(norms)).toHaveLength(8);
    expect(Object.values(norms).every((v) => Number.isFinite(v) && v > 0)).toBe(true);
    tf.dispose([x, value, ...Object.values(grads)]);
    second.dispose();
  });

  it("leaves out weights without a gradient and names what is wrong", () => {
    const logitsOnly = Object.fromEntries(
      resnet.getLayer("logits").trainableWeights.map((w) => [w.name, tf.ones(w.shape as number[])]),
    );
    expect(Object.keys(gradientNormsByBlock(logitsOnly, resnet))).toEqual(["logits"]);
    const err = (grads: tf.NamedTensorMap) => {
      try {
        gradientNormsByBlock(grads, resnet);
      } catch (e) {
        return e as ExplainError;
      }
      throw new Error("expected an error");
    };
    const stray = tf.ones([2]);
    const none = err({ "other/kernel": stray });
    expect(none).toBeInstanceOf(ExplainError);
    expect(none.code).toBe("no_gradients");
    expect(none.message).toContain('got keys "other/kernel"');
    const kernelName = resnet.getLayer("logits").trainableWeights[0]!.name;
    expect(err({ [kernelName]: stray }).message).toBe(
      `gradientNormsByBlock grads[${JSON.stringify(kernelName)}]: expected a tensor of shape [16, 10] (the variable's), got [2]`,
    );
    tf.dispose([stray, ...Object.values(logitsOnly)]);
  });

  it("names groups by resnet's layer-name prefixes", () => {
    expect(gradientGroup("stem_conv")).toBe("stem");
    expect(gradientGroup("stem_bn")).toBe("stem");
    expect(gradientGroup("stage2_block1_shortcut_bn")).toBe("stage2_block1");
    expect(gradientGroup("stage10_block12_conv2")).toBe("stage10_block12");
    expect(gradientGroup("logits")).toBe("logits");
  });
});
