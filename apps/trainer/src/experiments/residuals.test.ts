import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GradientNormHistory } from "@cnnkit/explain";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test-helpers.js";
import { readScalars } from "./arm.js";
import { runExperiment } from "./run-experiment.js";
import { expectOutputs, tinyExperiment } from "./test-support.js";

beforeAll(useCpu);

describe("residuals experiment", () => {
  it("trains ResNet-20 with and without shortcuts and records every block's gradient norm", async () => {
    const out = await mkdtemp(join(tmpdir(), "cnnkit-exp-res-"));
    const before = tf.memory().numTensors;
    const [result] = await runExperiment("residuals", tinyExperiment(out));
    expect(tf.memory().numTensors).toBe(before);
    await expectOutputs(result!, ["residual", "plain"]);
    const names = result!.pictures.map((p) => p.split("/").at(-1));
    expect(names).toEqual(
      expect.arrayContaining([
        "loss.png",
        "grad-norms-residual.png",
        "grad-norms-plain.png",
        "grad-norms-first-last.png",
      ]),
    );
    for (const arm of ["residual", "plain"]) {
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
  });
});
