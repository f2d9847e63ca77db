import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readTrainingState } from "./checkpoint.js";
import { resolveConfig } from "./config.js";
import { readScalars } from "./experiments/arm.js";
import { HELP, parseFlags } from "./flags.js";
import type { EmulatedPrecisionSummary } from "./precision.js";
import { resolveReplicas } from "./replicas.js";
import { reportMarkdown } from "./report.js";
import { runPaths } from "./run-dir.js";
import { QuietProgress, syntheticData, tinyConfig, useCpu, weightsOf } from "./test-helpers.js";
import { type MetricsFile, train } from "./train.js";

beforeAll(useCpu);

const data = syntheticData();

describe("precision: fp16-emulated", () => {
  it("is a config key and flags, validated, and runs on one model", () => {
    expect(resolveConfig("smoke").precision).toBe("fp32");
    expect(parseFlags(["--precision", "fp16-emulated", "--no-loss-scaling"]).patch).toMatchObject({
      precision: "fp16-emulated",
      lossScaling: false,
    });
    expect(HELP).toContain("--precision P          fp32 (default) | fp16-emulated");
    expect(() => resolveConfig("smoke", { precision: "fp16" as "fp32" })).toThrow(
      'precision: expected "fp32" or "fp16-emulated", got "fp16"',
    );
    expect(() => resolveConfig("smoke", { lossScaling: false })).toThrow(
      'lossScaling: expected true unless precision is "fp16-emulated", got false',
    );
    expect(() => resolveConfig("smoke", { precision: "fp16-emulated", replicas: 2 })).toThrow(
      'replicas: expected 1 (or "auto") with precision "fp16-emulated", got 2',
    );
    const config = resolveConfig("smoke", { precision: "fp16-emulated", batchSize: 256 });
    expect(resolveReplicas(config, "wasm", 2)).toBe(1);
    expect(resolveReplicas({ ...config, precision: "fp32" }, "wasm", 2)).toBe(2);
  });

  it("trains, says it is emulated, and records the loss scale, skips and underflow", async () => {
    const runDir = await mkdtemp(join(tmpdir(), "cnnkit-fp16-"));
    const config = tinyConfig({ precision: "fp16-emulated" });
    const progress = new QuietProgress();
    const result = await train(config, { runDir, data, progress });
    expect(result.globalStep).toBe(6);
    expect(progress.lines.join("")).toContain(
      "precision: fp16-emulated, with dynamic loss scaling: float16 mixed precision EMULATED in float32",
    );
    const paths = runPaths(runDir);
    const metrics = JSON.parse(await readFile(paths.metrics, "utf8")) as MetricsFile;
    const summary = metrics.precision as EmulatedPrecisionSummary;
    expect(summary).toMatchObject({
      mode: "fp16-emulated",
      lossScaling: true,
      skippedSteps: 0,
      finalLossScale: 65536,
    });
    expect(summary.note).toContain("no speed-up");
    expect(Object.keys(summary.activationGradientsByLayer)[0]).toBe("stem_conv");
    for (const tag of ["fp16/loss_scale", "fp16/skipped", "fp16/underflow_activation_grads"]) {
      expect((await readScalars(paths.tensorboard, tag)).steps, tag).toEqual([1, 2, 3, 4, 5, 6]);
    }
    expect(await readTrainingState(paths.last)).toMatchObject({
      lossScaler: { scale: 65536, growthTracker: 6 },
    });
    const report = reportMarkdown(
      {
        config,
        result: result.bestResult!,
        test: data.test,
        history: result.history,
        source: "checkpoints/best",
      },
      [],
    );
    expect(report).toContain("**Training precision**: fp16-emulated");
    expect(report).toContain("The evaluation above ran in float32.");
  });

  it("resumes with the loss scaler where it was (same weights and scale as an unbroken run)", async () => {
    const config = tinyConfig({ precision: "fp16-emulated", epochs: 2 });
    const lossScaler = { growthInterval: 2 };
    const straight = await mkdtemp(join(tmpdir(), "cnnkit-fp16-straight-"));
    await train(config, { runDir: straight, data, progress: new QuietProgress(), lossScaler });
    const broken = await mkdtemp(join(tmpdir(), "cnnkit-fp16-resumed-"));
    const controller = new AbortController();
    const stopper = new QuietProgress((s) => {
      if (s.epoch === 2 && s.step === 1) controller.abort();
    });
    await train(config, {
      runDir: broken,
      data,
      progress: stopper,
      signal: controller.signal,
      lossScaler,
    });
    await train(config, {
      runDir: broken,
      data,
      resume: true,
      progress: new QuietProgress(),
      lossScaler,
    });
    const a = await readTrainingState(runPaths(straight).last);
    const b = await readTrainingState(runPaths(broken).last);
    expect(b.lossScaler).toEqual(a.lossScaler);
    expect(a.lossScaler?.scale).toBeGreaterThan(65536); // it grew: the state matters
    const wa = await weightsOf(runPaths(straight).last);
    const wb = await weightsOf(runPaths(broken).last);
    for (const [name, values] of wa) expect(wb.get(name), name).toEqual(values);
  });
});
