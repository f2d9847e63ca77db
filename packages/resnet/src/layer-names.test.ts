import { describe, expect, it } from "vitest";
import {
  blockLayerName,
  blockOutputNames,
  parseBlockLayerName,
  ResNetError,
  resNetBlocks,
  stageOutputNames,
} from "./index.js";

const named = (...names: string[]) => ({ name: "m", layers: names.map((name) => ({ name })) });

describe("layer names", () => {
  it("builds and parses block layer names", () => {
    expect(blockLayerName(2, 1, "shortcut_conv")).toBe("stage2_block1_shortcut_conv");
    expect(parseBlockLayerName("stage12_block3_bn2")).toEqual({ stage: 12, block: 3, part: "bn2" });
    expect(parseBlockLayerName("stem_conv")).toBeUndefined();
    expect(parseBlockLayerName("stage1_block1_conv3")).toBeUndefined();
    // The fast ResNet's conv groups.
    expect(parseBlockLayerName("stage3_block1_pool1")).toEqual({
      stage: 3,
      block: 1,
      part: "pool1",
    });
    expect(parseBlockLayerName("stage1_block1_gelu2")?.part).toBe("gelu2");
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

  it("describes each block: its layers and whether it projects", () => {
    const m = named(
      "stem_conv",
      "stage1_block1_conv1",
      "stage1_block1_out",
      "stage2_block1_pad1",
      "stage2_block1_conv1",
      "stage2_block1_shortcut_conv",
      "stage2_block1_out",
      "stage12_block1_conv1",
      "stage12_block1_out",
    );
    expect(resNetBlocks(m)).toEqual([
      {
        stage: 1,
        block: 1,
        prefix: "stage1_block1",
        output: "stage1_block1_out",
        projection: false,
        layerNames: ["stage1_block1_conv1", "stage1_block1_out"],
      },
      {
        stage: 2,
        block: 1,
        prefix: "stage2_block1",
        output: "stage2_block1_out",
        projection: true,
        layerNames: [
          "stage2_block1_pad1",
          "stage2_block1_conv1",
          "stage2_block1_shortcut_conv",
          "stage2_block1_out",
        ],
      },
      {
        stage: 12,
        block: 1,
        prefix: "stage12_block1",
        output: "stage12_block1_out",
        projection: false,
        layerNames: ["stage12_block1_conv1", "stage12_block1_out"],
      },
    ]);
  });

  it("refuses a model without blocks", () => {
    expect(() => blockOutputNames(named("dense"))).toThrow(ResNetError);
    expect(() => stageOutputNames(named("dense"))).toThrow(
      'model "m": expected layers named stage{s}_block{b}_out, found none (1 layers)',
    );
  });
});
