import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import type { EmulatedPrecisionSummary } from "../precision.js";
import { useCpu } from "../test-helpers.js";
import type { MetricsFile } from "../train.js";
import { readScalars } from "./arm.js";
import { runExperiment } from "./run-experiment.js";
import { expectOutputs, tinyExperiment } from "./test-support.js";

beforeAll(useCpu);

describe("mixed-precision experiment", () => {
  it("trains float32, float16 without and with loss scaling, and says the float16 is emulated", async () => {
    const out = await mkdtemp(join(tmpdir(), "cnnkit-exp-mp-"));
    const before = tf.memory().numTensors;
    const [result] = await runExperiment("mixed-precision", tinyExperiment(out));
    expect(tf.memory().numTensors).toBe(before);
    const arms = ["fp32", "fp16-no-scaling", "fp16-dynamic-scaling"];
    await expectOutputs(result!, arms);
    expect(result!.pictures.map((p) => p.split("/").at(-1))).toEqual([
      "underflow.png",
      "underflow-by-block.png",
      "loss-scale.png",
      "loss.png",
    ]);
    const precision = async (arm: string) =>
      (JSON.parse(await readFile(join(result!.dir, arm, "metrics.json"), "utf8")) as MetricsFile)
        .precision;
    expect(await precision("fp32")).toBe("fp32");
    const unscaled = (await precision("fp16-no-scaling")) as EmulatedPrecisionSummary;
    const scaled = (await precision("fp16-dynamic-scaling")) as EmulatedPrecisionSummary;
    expect(unscaled).toMatchObject({
      mode: "fp16-emulated",
      lossScaling: false,
      finalLossScale: 1,
    });
    // 16 images at batch 8 for 2 epochs: 4 steps, fewer than the growth interval.
    expect(scaled).toMatchObject({ lossScaling: true, skippedSteps: 0, finalLossScale: 65536 });
    expect(Object.keys(unscaled.activationGradientsByLayer)[0]).toBe("stem_conv");
    const scale = await readScalars(
      join(result!.dir, "fp16-dynamic-scaling", "tensorboard"),
      "fp16/loss_scale",
    );
    expect(scale).toEqual({ steps: [1, 2, 3, 4], values: [65536, 65536, 65536, 65536] });
    expect(
      (await readScalars(join(result!.dir, "fp32", "tensorboard"), "fp16/loss_scale")).steps,
    ).toEqual([]);
    expect(result!.numbers["fp16-no-scaling.activationGradientUnderflow"]).toBe(
      unscaled.underflow.activationGradients,
    );
    const markdown = await readFile(result!.summary, "utf8");
    expect(markdown).toContain("**Emulated, not accelerated.**");
    expect(markdown).toMatch(/the float16 arms were \*\*[\d.]+(–[\d.]+)?× slower\*\* than float32/);
    expect(markdown).toContain("4 steps of batch 8");
  });
});
