import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test-helpers.js";
import { readScalars } from "./arm.js";
import { runExperiment } from "./run-experiment.js";
import { expectOutputs, tinyExperiment } from "./test-support.js";

beforeAll(useCpu);

describe("augmentation experiment", () => {
  it("trains without augmentation, with crop+flip and with cutout, and measures the gap", async () => {
    const out = await mkdtemp(join(tmpdir(), "cnnkit-exp-aug-"));
    const [result] = await runExperiment("augmentation", tinyExperiment(out));
    const arms = ["none", "crop-flip", "crop-flip-cutout"];
    await expectOutputs(result!, arms);
    for (const arm of arms) {
      const config = JSON.parse(await readFile(join(result!.dir, arm, "config.json"), "utf8"));
      expect(config.augment.crop).toBe(arm !== "none");
      expect(config.augment.cutout).toBe(arm.endsWith("cutout") ? 8 : 0);
      // The clean train accuracy after each of the 2 epochs, and the gap it makes with test.
      const clean = await readScalars(
        join(result!.dir, arm, "tensorboard"),
        "epoch/train_acc_clean",
      );
      const test = await readScalars(join(result!.dir, arm, "tensorboard"), "test/acc");
      // On the run's one step axis: the global step each epoch ended on, where test/acc sits.
      expect(clean.steps).toHaveLength(2);
      expect(clean.steps).toEqual([...new Set(test.steps)]);
      const gap = result!.numbers[`${arm}.gap`]!;
      expect(gap).toBeCloseTo(clean.values[1]! - test.values[1]!, 6);
      expect(result!.numbers[`${arm}.trainAccuracy`]).toBe(clean.values[1]);
    }
    const markdown = await readFile(result!.summary, "utf8");
    expect(markdown).toContain("2 epochs over 16 training images");
    expect(markdown).toContain(
      `Without augmentation the gap was ${(result!.numbers["none.gap"]! * 100).toFixed(1)} points`,
    );
  });
});
