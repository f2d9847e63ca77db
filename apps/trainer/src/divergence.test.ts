// The divergence rule through the CLI (README "What the app promises"): a run whose loss blows up
// ends "diverged" with exit 1 and the last good checkpoint, whether the loss went NaN or only huge,
// with clipping on or off, with AdamW or SGD; metrics.json is written either way.
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { readTrainingState } from "./checkpoint.js";
import { main } from "./cli.js";
import { Progress } from "./progress.js";
import { runPaths } from "./run-dir.js";
import { syntheticData, tinyConfig, useCpu } from "./test-helpers.js";
import { type MetricsFile, train } from "./train.js";

beforeAll(useCpu);

const data = syntheticData(32, 8);
const TINY = [
  "--preset",
  "smoke",
  "--widths",
  "4,8,16",
  "--batch-size",
  "8",
  "--epochs",
  "2",
  "--backend",
  "cpu",
  "--replicas",
  "1",
  "--no-export",
];

async function run(argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, {
    stdout: { write: (s: string) => stdout.push(s) },
    stderr: { write: (s: string) => stderr.push(s) },
    data,
  });
  return { code, stdout: stdout.join(""), stderr: stderr.join("") };
}

describe("a run whose loss blows up", () => {
  for (const flags of [
    ["--max-lr", "1e4"],
    ["--max-lr", "1e4", "--grad-clip", "0"],
    ["--optimizer", "sgd", "--max-lr", "1e4", "--grad-clip", "0", "--momentum", "0.9"],
  ]) {
    it(`ends "diverged", exit 1, one line, metrics.json written (${flags.join(" ")})`, async () => {
      const out = join(await mkdtemp(join(tmpdir(), "cnnkit-diverge-")), "run");
      const r = await run([...TINY, ...flags, "--out", out]);
      expect(r.code, r.stdout).toBe(1);
      const lines = r.stderr.split("\n").filter((l) => l.startsWith("cnnkit-train:"));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/training diverged/);
      expect(lines[0]).toMatch(/last good checkpoint .* is kept in .*checkpoints\/last/);
      const metrics = JSON.parse(await readFile(runPaths(out).metrics, "utf8")) as MetricsFile;
      expect(metrics.status).toBe("diverged");
      // What was kept is resumable: every weight finite.
      const state = JSON.parse(await readFile(join(runPaths(out).last, "state.json"), "utf8"));
      expect(state.format).toBe("cnnkit-trainer-checkpoint");
    });
  }
});

describe("a model whose test logits overflow while its training loss looks fine", () => {
  const variance = -1e30;
  // Both runtimes: the ONNX Runtime graph (BatchNorm folded from the same statistics) must
  // overflow into the same rule, not into an error of its own.
  for (const evaluation of ["tfjs", "onnxruntime"] as const) {
    it(`ends "diverged" at the evaluation (NaN test logits), metrics.json written, nothing saved of that epoch (evaluated on ${evaluation})`, async () => {
      const dir = await mkdtemp(join(tmpdir(), "cnnkit-diverge-eval-"));
      const run = train(tinyConfig({ epochs: 2 }), {
        runDir: dir,
        data,
        evaluation,
        progress: new Progress({ stream: { write: () => true }, every: 1000 }),
        // BatchNorm's moving statistics only act in inference: training still sees batch
        // statistics and finite losses, the evaluation sees overflowing logits.
        afterEpoch: ({ epoch, model }) => {
          if (epoch !== 1) return;
          for (const layer of model.layers.filter(
            (l) => l.getClassName() === "BatchNormalization",
          )) {
            const weights = layer.getWeights();
            const names = layer.weights.map((w) => w.originalName);
            tf.tidy(() =>
              layer.setWeights(
                weights.map((w, i) =>
                  names[i]!.endsWith("moving_variance") ? tf.fill(w.shape, variance) : w,
                ),
              ),
            );
          }
        },
      });
      await expect(run).rejects.toMatchObject({
        code: "non_finite_loss",
        message: expect.stringMatching(
          /^epoch 2: (a test logit is NaN|the test loss is Infinity) \(the model's logits overflowed\): training diverged; this epoch was not saved/,
        ),
      });
      const paths = runPaths(dir);
      expect(await readTrainingState(paths.last)).toMatchObject({ epoch: 1, step: 0 });
      const metrics = JSON.parse(await readFile(paths.metrics, "utf8")) as MetricsFile;
      expect(metrics.status).toBe("diverged");
      expect(metrics.epochs).toHaveLength(1);
    });
  }
});
