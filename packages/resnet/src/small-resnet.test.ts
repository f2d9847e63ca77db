import * as tf from "@tensorflow/tfjs-core";
import { loadLayersModel } from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test/helpers.js";
import { ResNetError, smallResNet, summarize } from "./index.js";

beforeAll(useCpu);

const BLOCK = ["conv1", "bn1", "relu1", "conv2", "bn2"];

describe("smallResNet", () => {
  it("has PyTorch's 2,777,674 trainable parameters and ~421 M multiply-adds", () => {
    const before = tf.memory().numTensors;
    const m = smallResNet();
    const s = summarize(m);
    expect(s.trainableParams).toBe(2_777_674);
    // 4,480 BN moving statistics (2 per channel of 2,240 BN channels) are not trainable.
    expect(s.nonTrainableParams).toBe(4_480);
    expect(s.multiplyAdds).toBe(421_202_432);
    expect(m.inputs[0]!.shape).toEqual([null, 32, 32, 3]);
    expect(m.outputShape).toEqual([null, 10]);
    expect(m.name).toBe("small_resnet");
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("names its layers by the cnnkit contract", () => {
    const m = smallResNet({ widths: [4, 8, 16] });
    const expected = ["input", "stem_conv", "stem_bn", "stem_relu"];
    for (const [s, projection] of [
      [1, false],
      [2, true],
      [3, true],
    ] as const) {
      for (const b of [1, 2]) {
        const p = `stage${s}_block${b}`;
        const first = b === 1 && projection;
        expected.push(...(first ? [`${p}_pad1`] : []), ...BLOCK.map((part) => `${p}_${part}`));
        if (first) expected.push(`${p}_shortcut_conv`, `${p}_shortcut_bn`);
        expected.push(`${p}_add`, `${p}_out`);
      }
    }
    expected.push("pool", "logits");
    // model.layers is in topological order; compare the sets, and check there are no extras.
    expect(m.layers.map((l) => l.name).sort()).toEqual([...expected].sort());
    // No softmax: the output is logits.
    expect(m.getLayer("logits").getConfig()).toMatchObject({ activation: "linear", units: 10 });
    m.dispose();
  });

  it("uses PyTorch's BatchNorm numbers and no conv bias", () => {
    const m = smallResNet({ widths: [4, 8, 16] });
    for (const layer of m.layers) {
      const config = layer.getConfig();
      if (layer.getClassName() === "BatchNormalization") {
        expect(config).toMatchObject({ epsilon: 1e-5, momentum: 0.9 });
      }
      if (layer.getClassName() === "Conv2D") expect(config).toMatchObject({ useBias: false });
    }
    m.dispose();
  });

  it("initialises convs with He normal (fan_out), as torchvision does", () => {
    const m = smallResNet({ seed: 5 });
    // 589,824 weights: the sample standard deviation is within 1% of sqrt(2 / (3*3*256)).
    const w = m.getLayer("stage3_block2_conv2").weights[0]!.read();
    const { mean, variance } = tf.moments(w);
    expect(Math.abs(mean.dataSync()[0]!)).toBeLessThan(1e-3);
    expect(Math.sqrt(variance.dataSync()[0]!) / Math.sqrt(2 / (9 * 256))).toBeCloseTo(1, 2);
    tf.dispose([mean, variance]);
    // PyTorch's Linear init: U(-1/sqrt(256), 1/sqrt(256)).
    const dense = m.getLayer("logits").weights[0]!.read();
    expect(tf.max(tf.abs(dense)).dataSync()[0]!).toBeLessThanOrEqual(1 / 16);
    m.dispose();
  });

  it("takes widths, classes, input shape and name", () => {
    const m = smallResNet({
      widths: [16, 32, 64],
      numClasses: 100,
      inputShape: [16, 16, 1],
      name: "mini",
    });
    expect(m.name).toBe("mini");
    expect(m.inputs[0]!.shape).toEqual([null, 16, 16, 1]);
    expect(m.outputShape).toEqual([null, 100]);
    expect(m.getLayer("stage3_block2_out").outputShape).toEqual([null, 4, 4, 64]);
    m.dispose();
    // PyTorch's count for widths [16, 32, 64], 10 classes (scripts/gen-fixtures.py prints it).
    const w16 = smallResNet({ widths: [16, 32, 64] });
    expect(summarize(w16).trainableParams).toBe(175_258);
    w16.dispose();
  });

  it.each([
    [{ widths: [] }, "widths: expected a non-empty array of positive integers, got []"],
    [{ widths: [8, 0] }, "widths: expected a non-empty array of positive integers, got [8,0]"],
    [{ numClasses: 0 }, "numClasses: expected a positive integer, got 0"],
    [{ inputShape: [32, 32] }, "inputShape: expected [height, width, channels]"],
    [{ batchNormEpsilon: 0 }, "batchNormEpsilon: expected a positive number, got 0"],
    [{ batchNormMomentum: 0.1 + 1 }, "PyTorch's momentum 0.1 is 0.9 here"],
    [{ seed: 1.5 }, "seed: expected an integer ≥ 0, got 1.5"],
  ])("refuses %o", (options, message) => {
    const call = () => smallResNet(options as never);
    expect(call).toThrow(ResNetError);
    expect(call).toThrow(message);
  });

  it("saves and loads in plain tfjs, predicting the same logits", async () => {
    const before = tf.memory().numTensors;
    const m = smallResNet({ widths: [4, 8, 16], seed: 9 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await m.save(
      tf.io.withSaveHandler(async (a: tf.io.ModelArtifacts) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
      }),
    );
    // Only tfjs's built-in layer classes in the saved topology.
    const topology = artifacts!.modelTopology as {
      class_name: string;
      config: { layers: { class_name: string }[] };
    };
    expect(topology.class_name).toBe("Model");
    const classes = new Set(topology.config.layers.map((l) => l.class_name));
    expect([...classes].sort()).toEqual([
      "Add",
      "BatchNormalization",
      "Conv2D",
      "Dense",
      "GlobalAveragePooling2D",
      "InputLayer",
      "ReLU",
      "ZeroPadding2D",
    ]);
    const loaded = await loadLayersModel(tf.io.fromMemory(artifacts!));
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 1);
    const [a, b] = [m.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    m.dispose();
    loaded.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
