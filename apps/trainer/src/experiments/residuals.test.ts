import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GradientNormHistory } from "@cnnkit/explain";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test-helpers.js";
import { readScalars } from "./arm.js";
import { type NoNormShortcut, noNormResNet } from "./no-norm-resnet.js";
import { runExperiment } from "./run-experiment.js";
import { expectOutputs, tinyExperiment } from "./test-support.js";

beforeAll(useCpu);

describe("residuals experiment", () => {
  it("trains five ResNet-20s (without BatchNorm: residual, plain, broken; with: plain, residual) and records every block's gradient norm", async () => {
    const out = await mkdtemp(join(tmpdir(), "cnnkit-exp-res-"));
    const before = tf.memory().numTensors;
    const [result] = await runExperiment("residuals", tinyExperiment(out));
    expect(tf.memory().numTensors).toBe(before);
    const arms = ["residual", "plain", "broken-shortcut", "plain-batchnorm", "residual-batchnorm"];
    await expectOutputs(result!, arms);
    const names = result!.pictures.map((p) => p.split("/").at(-1));
    expect(names).toEqual(
      expect.arrayContaining([
        "loss.png",
        "grad-profile.png",
        "test-accuracy.png",
        ...arms.map((a) => `grad-norms-${a}.png`),
      ]),
    );
    for (const arm of arms) {
      // 16 images at batch 8 for 2 epochs: 4 steps, each recorded; ResNet-20 has 9 blocks.
      const history = new GradientNormHistory();
      history.loadStateDict(
        JSON.parse(await readFile(join(result!.dir, arm, "grad-norms.json"), "utf8")),
      );
      expect(history.steps).toEqual([0, 1, 2, 3]);
      expect(history.groups.filter((g) => g.startsWith("stage"))).toHaveLength(9);
      for (const g of history.groups)
        for (const v of history.norms(g)) expect(v).toBeGreaterThan(0);
      const curve = await readScalars(
        join(result!.dir, arm, "tensorboard"),
        "grad_norm/stage1_block1",
      );
      expect(curve.steps).toEqual([0, 1, 2, 3]);
      expect(result!.numbers[`${arm}.firstBlockGradNorm`]).toBeCloseTo(
        history.norms("stage1_block1").reduce((a, b) => a + b, 0) / 4,
        6,
      );
    }
    const markdown = await readFile(result!.summary, "utf8");
    expect(markdown).toContain("resnet20 [2, 4, 8], 4 steps");
    expect(markdown).toContain(result!.numbers["plain.firstToLastRatio"]!.toFixed(2));
    expect(markdown).toContain("## With BatchNorm");
  });

  it("builds the arms without BatchNorm as named: identity, none, a projection of the block's own output", () => {
    const build = (shortcut: NoNormShortcut) =>
      noNormResNet({ widths: [2, 4, 8], blocks: [3, 3, 3], shortcut, numClasses: 10, seed: 0 });
    const layersOf = (shortcut: NoNormShortcut) => {
      const model = build(shortcut);
      const names = model.layers.map((l) => l.getClassName());
      const inputsOf = (l: unknown) =>
        // biome-ignore lint/suspicious/noExplicitAny: tfjs-layers keeps the graph's nodes internal
        ((l as any).inboundNodes[0].inboundLayers as { name: string }[]).map((x) => x.name);
      const adds = model.layers.filter((l) => l.name.endsWith("_add"));
      const inbound = adds.map(inputsOf);
      const projection = model.layers.find((l) => l.name === "stage1_block2_shortcut_conv");
      const bn = names.filter((n) => n.includes("BatchNormalization")).length;
      model.dispose();
      return {
        adds: adds.length,
        inbound,
        bn,
        projectionInput: projection && inputsOf(projection),
      };
    };
    const identity = layersOf("identity");
    expect(identity).toMatchObject({ adds: 9, bn: 0 });
    // stage1_block2 adds conv2 and the previous block's output: the identity path.
    expect(identity.inbound[1]).toEqual(["stage1_block2_conv2", "stage1_block1_out"]);
    expect(layersOf("none")).toMatchObject({ adds: 0, bn: 0 });
    const broken = layersOf("wrong-projection");
    // The bug: the projection reads conv2's output, so nothing skips the convolutions.
    expect(broken.inbound[1]).toEqual(["stage1_block2_conv2", "stage1_block2_shortcut_conv"]);
    expect(broken.projectionInput).toEqual(["stage1_block2_conv2"]);
    expect(identity.projectionInput).toBeUndefined();
  });
});
