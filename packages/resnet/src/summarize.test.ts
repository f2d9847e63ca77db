import * as tf from "@tensorflow/tfjs-core";
import { input, layers, model, type SymbolicTensor } from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test/helpers.js";
import { smallResNet, summarize } from "./index.js";

beforeAll(useCpu);

describe("summarize", () => {
  it("counts parameters and multiply-adds per layer of a small model", () => {
    const before = tf.memory().numTensors;
    const x = input({ shape: [8, 8, 3], name: "in" });
    let y = layers
      .conv2d({ name: "c", filters: 4, kernelSize: 3, strides: 2, padding: "same", useBias: false })
      .apply(x) as SymbolicTensor;
    y = layers.batchNormalization({ name: "bn" }).apply(y) as SymbolicTensor;
    y = layers.globalAveragePooling2d({ name: "gap" }).apply(y) as SymbolicTensor;
    y = layers.dense({ name: "d", units: 5 }).apply(y) as SymbolicTensor;
    const m = model({ inputs: x, outputs: y, name: "tiny" });
    const s = summarize(m);
    expect(
      s.layers.map((l) => [
        l.name,
        l.className,
        l.outputShape,
        l.params,
        l.trainableParams,
        l.multiplyAdds,
      ]),
    ).toEqual([
      ["in", "InputLayer", [8, 8, 3], 0, 0, 0],
      // 4x4x4 outputs, each 3*3*3 multiply-adds.
      ["c", "Conv2D", [4, 4, 4], 108, 108, 4 * 4 * 4 * 27],
      ["bn", "BatchNormalization", [4, 4, 4], 16, 8, 0],
      ["gap", "GlobalAveragePooling2D", [4], 0, 0, 0],
      ["d", "Dense", [5], 25, 25, 20],
    ]);
    expect(s).toMatchObject({
      name: "tiny",
      totalParams: 149,
      trainableParams: 141,
      nonTrainableParams: 8,
      multiplyAdds: 1748,
    });
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("prints a table with the totals", () => {
    const m = smallResNet();
    const { table } = summarize(m);
    const lines = table.split("\n");
    expect(lines[0]).toBe("model: small_resnet");
    expect(lines[1]).toMatch(/^layer\s+type\s+output shape\s+params\s+mult-adds$/);
    expect(table).toMatch(
      /^stage3_block1_shortcut_conv\s+Conv2D\s+\[8, 8, 256\]\s+32,768\s+2,097,152$/m,
    );
    expect(lines.at(-2)).toBe("total params: 2,782,154 (trainable 2,777,674, non-trainable 4,480)");
    expect(lines.at(-1)).toBe("multiply-adds per image: 421,202,432 (421.2 M)");
    m.dispose();
  });
});
