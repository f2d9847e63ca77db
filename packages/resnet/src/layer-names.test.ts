import { describe, expect, it } from "vitest";
import {
  blockLayerName,
  blockOutputNames,
  parseBlockLayerName,
  ResNetError,
  stageOutputNames,
} from "./index.js";

const named = (...names: string[]) => ({ name: "m", layers: names.map((name) => ({ name })) });

describe("layer names", () => {
  it("builds and parses block layer names", () => {
    expect(blockLayerName(2, 1, "shortcut_conv")).toBe("stage2_block1_shortcut_conv");
    expect(parseBlockLayerName("stage12_block3_bn2")).toEqual({ stage: 12, block: 3, part: "bn2" });
    expect(parseBlockLayerName("stem_conv")).toBeUndefined();
    expect(parseBlockLayerName("stage1_block1_conv3")).toBeUndefined();
  });

  it("lists block and stage outputs in forward order, numerically", () => {
    // Deliberately shuffled, with block 10 to catch a string sort.
    const m = named(
      "stage2_block10_out",
      "stage1_block1_out",
      "stage2_block2_out",
      "stage2_block2_add",
      "stage1_block2_out",
      "stage2_block1_out",
      "logits",
    );
    expect(blockOutputNames(m)).toEqual([
      "stage1_block1_out",
      "stage1_block2_out",
      "stage2_block1_out",
      "stage2_block2_out",
      "stage2_block10_out",
    ]);
    expect(stageOutputNames(m)).toEqual(["stage1_block2_out", "stage2_block10_out"]);
  });

  it("refuses a model without blocks", () => {
    expect(() => blockOutputNames(named("dense"))).toThrow(ResNetError);
    expect(() => stageOutputNames(named("dense"))).toThrow(
      'model "m": expected layers named stage{s}_block{b}_out, found none (1 layers)',
    );
  });
});
