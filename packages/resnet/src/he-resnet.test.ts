import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test/helpers.js";
import { blockOutputNames, ResNetError, resnet20, resnet32, resnet56, summarize } from "./index.js";

beforeAll(useCpu);

describe("resnet20/32/56", () => {
  // PyTorch's counts for the same networks with projection shortcuts (scripts/gen-fixtures.py).
  it.each([
    { build: resnet20, depth: 20, params: 272_474 },
    { build: resnet32, depth: 32, params: 466_906 },
    { build: resnet56, depth: 56, params: 855_770 },
  ])(
    "resnet$depth: depth 6n+2, $params parameters, widths 16/32/64",
    ({ build, depth, params }) => {
      const before = tf.memory().numTensors;
      const m = build();
      expect(m.name).toBe(`resnet${depth}`);
      expect(summarize(m).trainableParams).toBe(params);
      // Depth counts the weighted layers on the main path: 3x3 convs and the dense layer.
      const weighted = m.layers.filter(
        (l) =>
          (l.getClassName() === "Conv2D" && !l.name.includes("shortcut")) || l.name === "logits",
      );
      expect(weighted.length).toBe(depth);
      const n = (depth - 2) / 6;
      expect(blockOutputNames(m)).toHaveLength(3 * n);
      expect(m.getLayer(`stage1_block${n}_out`).outputShape).toEqual([null, 32, 32, 16]);
      expect(m.getLayer(`stage3_block${n}_out`).outputShape).toEqual([null, 8, 8, 64]);
      m.dispose();
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it("needs exactly 3 stage widths", () => {
    expect(() => resnet20({ widths: [16, 32] })).toThrow(ResNetError);
    expect(() => resnet20({ widths: [16, 32] })).toThrow(
      "widths: expected 3 stage widths for resnet20",
    );
  });
});
