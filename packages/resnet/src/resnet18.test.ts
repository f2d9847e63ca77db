import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test/helpers.js";
import { ResNetError, resnet18, stageOutputNames, summarize } from "./index.js";

beforeAll(useCpu);

describe("resnet18", () => {
  it("has the CIFAR stem, 4 stages and PyTorch's 11,173,962 parameters", () => {
    const before = tf.memory().numTensors;
    const m = resnet18();
    expect(summarize(m).trainableParams).toBe(11_173_962);
    expect(m.getLayer("stem_conv").getConfig()).toMatchObject({
      kernelSize: [3, 3],
      strides: [1, 1],
    });
    expect(m.layers.some((l) => l.getClassName() === "MaxPooling2D")).toBe(false);
    expect(stageOutputNames(m)).toEqual([
      "stage1_block2_out",
      "stage2_block2_out",
      "stage3_block2_out",
      "stage4_block2_out",
    ]);
    expect(m.getLayer("stage4_block2_out").outputShape).toEqual([null, 4, 4, 512]);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("needs exactly 4 stage widths", () => {
    expect(() => resnet18({ widths: [64, 128, 256] })).toThrow(ResNetError);
  });
});
