import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test-helpers.js";
import { readScalars } from "./arm.js";
import { runExperiment } from "./run-experiment.js";
import { expectOutputs, tinyExperiment } from "./test-support.js";

beforeAll(useCpu);

describe("recipe experiment", () => {
  it("records every step's gradient norm, the raw weights' accuracy beside the EMA's, and calibration with and without label smoothing", async () => {
    const out = await mkdtemp(join(tmpdir(), "cnnkit-exp-recipe-"));
    const [result] = await runExperiment("recipe", tinyExperiment(out));
    const arms = ["no-smoothing", "smoothing-0.2"];
    await expectOutputs(result!, arms);
    expect(result!.pictures.map((p) => p.split("/").at(-1))).toEqual([
      "clipping.png",
      "ema.png",
      "calibration.png",
      "confidence.png",
    ]);
    for (const arm of arms) {
      const config = JSON.parse(await readFile(join(result!.dir, arm, "config.json"), "utf8"));
      expect(config).toMatchObject({
        labelSmoothing: arm === "no-smoothing" ? 0 : 0.2,
        ema: 0.98,
        gradClip: 1,
      });
      const tensorboard = join(result!.dir, arm, "tensorboard");
      // 16 images at batch 8 for 2 epochs: 4 steps, a norm each; the raw weights after each epoch.
      const norms = await readScalars(tensorboard, "train/grad_norm");
      expect(norms.steps).toEqual([1, 2, 3, 4]);
      const share = norms.values.filter((v) => v > 1).length / 4;
      expect(result!.numbers[`${arm}.clippedShare`]).toBe(share);
      const raw = await readScalars(tensorboard, "test/acc_raw_weights");
      // At the global step each epoch ended on, as test/acc.
      expect(raw.steps).toEqual([2, 4]);
      expect(result!.numbers[`${arm}.rawTestAccuracy`]).toBeCloseTo(raw.values[1]!, 6);
      const ece = result!.numbers[`${arm}.ece`]!;
      expect(ece).toBeGreaterThanOrEqual(0);
      expect(ece).toBeLessThanOrEqual(1);
    }
    const markdown = await readFile(result!.summary, "utf8");
    expect(markdown).toContain(
      `Clipping fired on ${(result!.numbers["no-smoothing.clippedShare"]! * 100).toFixed(1)}% of the steps`,
    );
  });
});
