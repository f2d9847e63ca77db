import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test-helpers.js";
import { runExperiment } from "./run-experiment.js";
import { expectOutputs, tinyExperiment } from "./test-support.js";

beforeAll(useCpu);

describe("features experiment", () => {
  let out = "";

  it("trains a small model and draws its filters, feature maps and Grad-CAM on its mistakes", async () => {
    out = await mkdtemp(join(tmpdir(), "cnnkit-exp-feat-"));
    const before = tf.memory().numTensors;
    const [result] = await runExperiment("features", tinyExperiment(out, { image: 3 }));
    expect(tf.memory().numTensors).toBe(before);
    await expectOutputs(result!, ["model"]);
    const names = result!.pictures.map((p) => p.split("/").at(-1));
    expect(names).toEqual([
      "filters.png",
      "features-stage1_block2_out.png",
      "features-stage2_block2_out.png",
      "features-stage3_block2_out.png",
      "grad-cam-mistakes.png",
    ]);
    expect(result!.numbers.filters).toBe(2);
    expect(result!.numbers.mistakesShown).toBeLessThanOrEqual(8);
    const markdown = await readFile(result!.summary, "utf8");
    expect(markdown).toContain("test image 3 (a cat)");
  });

  it("explains an existing run directory without training, and names a bad image index", async () => {
    const runDir = join(out, "features", "model");
    const again = await mkdtemp(join(tmpdir(), "cnnkit-exp-feat-run-"));
    const [result] = await runExperiment("features", tinyExperiment(again, { run: runDir }));
    const first = JSON.parse(await readFile(join(out, "features", "summary.json"), "utf8"));
    expect(result!.numbers.testAccuracy).toBe(first.testAccuracy);
    expect(await readFile(result!.summary, "utf8")).toContain(`the trained run \`${runDir}\``);
    await expect(
      runExperiment("features", tinyExperiment(again, { run: runDir, image: 8 })),
    ).rejects.toThrow("image: expected a test image index below 8");
  });
});
