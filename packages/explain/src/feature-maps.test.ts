import { smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import { model as functionalModel, type LayersModel } from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectAllClose, numbers, useCpu } from "../test/helpers.js";
import { ExplainError, featureMaps } from "./index.js";

let resnet: LayersModel;
const image = numbers(32 * 32 * 3, 21);

beforeAll(async () => {
  await useCpu();
  resnet = smallResNet({ widths: [4, 8, 16], seed: 1 });
});
afterAll(() => resnet.dispose());

/** Channel means of a layer's output, through tfjs's own executor (a sub-model). */
function channelMeans(layer: string): number[] {
  const sub = functionalModel({ inputs: resnet.inputs, outputs: resnet.getLayer(layer).output });
  return tf.tidy(() => {
    const out = sub.predict(tf.tensor4d(image, [1, 32, 32, 3])) as tf.Tensor;
    return Array.from(tf.mean(out, [0, 1, 2]).dataSync());
  });
}

describe("featureMaps", () => {
  it("ranks each stage's channels by mean activation, as tfjs's own executor computes it", () => {
    const before = tf.memory().numTensors;
    const maps = featureMaps(resnet, image);
    expect(tf.memory().numTensors).toBe(before);
    expect(maps.map((m) => [m.layer, m.shape])).toEqual([
      ["stage1_block2_out", [32, 32, 4]],
      ["stage2_block2_out", [16, 16, 8]],
      ["stage3_block2_out", [8, 8, 16]],
    ]);
    for (const m of maps) {
      const means = channelMeans(m.layer);
      const expected = means
        .map((v, k) => [v, k] as const)
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, 8);
      expect(m.channels).toEqual(expected.map(([, k]) => k));
      expectAllClose(
        m.strength,
        expected.map(([v]) => v),
        1e-5,
        m.layer,
      );
      expect(m.picture.toSVG()).toContain(`${m.layer}: ${m.shape.join("×")}`);
    }
    expect(maps[0]!.channels).toHaveLength(4); // a stage narrower than `channels` shows all
  });

  it("takes a Float32Array, a [h, w, c] or a [1, h, w, c] tensor, and leaves the tensor alone", () => {
    const three = tf.tensor3d(image, [32, 32, 3]);
    const four = tf.tensor4d(image, [1, 32, 32, 3]);
    const before = tf.memory().numTensors;
    const layers = ["stem_relu"];
    const a = featureMaps(resnet, image, { layers, channels: 2, scheme: "grey" });
    const b = featureMaps(resnet, three, { layers, channels: 2, scheme: "grey" });
    const c = featureMaps(resnet, four, { layers, channels: 2, scheme: "grey" });
    expect(tf.memory().numTensors).toBe(before);
    expect(b[0]!.channels).toEqual(a[0]!.channels);
    expect(c[0]!.strength).toEqual(a[0]!.strength);
    expect(a[0]!.picture.toPNG()).toEqual(c[0]!.picture.toPNG());
    expect(three.isDisposed || four.isDisposed).toBe(false);
    tf.dispose([three, four]);
  });

  it("names the layer or input at fault", () => {
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as ExplainError;
      }
      throw new Error("expected an error");
    };
    const before = tf.memory().numTensors;
    const unknown = err(() => featureMaps(resnet, image, { layers: ["stage1_block9_out"] }));
    expect(unknown).toBeInstanceOf(ExplainError);
    expect(unknown.code).toBe("unknown_layer");
    expect(unknown.message).toContain('"stage1_block9_out"');
    expect(err(() => featureMaps(resnet, image, { layers: ["pool"] })).message).toContain(
      '"pool" to output [1, height, width, channels], got shape [1, 16]',
    );
    expect(err(() => featureMaps(resnet, new Float32Array(10))).message).toContain(
      "32×32×3 = 3072 values, got 10",
    );
    expect(err(() => featureMaps(resnet, image, { channels: 0 })).code).toBe("invalid_option");
    expect(tf.memory().numTensors).toBe(before);
  });
});
