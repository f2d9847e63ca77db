// End to end: `cnnkit-train --preset smoke` on the real CIFAR-10 from ../shared/datasets, then
// every artifact of the run directory checked with the packages' own readers.
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readManifest, type VerifyReport } from "@cnnkit/export";
import { listEventFiles, readEvents } from "@cnnkit/tensorboard";
import { decodePNG } from "@cnnkit/viz";
import { describe, expect, it } from "vitest";
import { readTrainingState } from "../src/checkpoint.js";
import { main } from "../src/cli.js";
import { PRESETS } from "../src/config.js";
import { runPaths } from "../src/run-dir.js";
import type { MetricsFile } from "../src/train.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const archive = resolve(repoRoot, "../shared/datasets/cifar-10-binary.tar.gz");
const cache = join(repoRoot, ".cache", "cnnkit");
const haveData = existsSync(archive);

async function run(argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, {
    stdout: { write: (s: string) => stdout.push(s) },
    stderr: { write: (s: string) => stderr.push(s) },
  });
  return { code, stdout: stdout.join(""), stderr: stderr.join("") };
}

describe("cnnkit-train --preset smoke on the real CIFAR-10", () => {
  it("has the dataset when running in CI", () => {
    // Skipping the end-to-end test locally is fine; in CI a missing dataset is a failure.
    if (process.env.CI) expect(haveData, `${archive} is missing`).toBe(true);
  });

  it.skipIf(!haveData)("trains, reports, exports and verifies", { timeout: 600_000 }, async () => {
    const out = await mkdtemp(join(tmpdir(), "cnnkit-smoke-"));
    const data = ["--data-url", archive, "--data-dir", cache];
    const { code, stdout, stderr } = await run(["--preset", "smoke", "--out", out, ...data]);
    expect(code, stderr).toBe(0);
    const paths = runPaths(out);

    // The resolved configuration, printed and saved.
    const config = JSON.parse(await readFile(paths.config, "utf8"));
    expect(config).toMatchObject({ ...PRESETS.smoke, out, dataUrl: archive, dataDir: cache });
    expect(stdout).toContain('"preset": "smoke"');

    // metrics.json: every epoch's figures and the best epoch; accuracy above chance.
    const metrics = JSON.parse(await readFile(paths.metrics, "utf8")) as MetricsFile;
    expect(metrics.status).toBe("completed");
    expect(metrics.stepsPerEpoch).toBe(PRESETS.smoke.trainSubset! / PRESETS.smoke.batchSize);
    expect(metrics.epochs).toHaveLength(PRESETS.smoke.epochs);
    expect(metrics.final.bestTestAccuracy).toBeGreaterThan(0.1);
    expect(metrics.epochs[metrics.final.bestEpoch! - 1]!.testAccuracy).toBe(
      metrics.final.bestTestAccuracy,
    );

    // TensorBoard: decodable by @cnnkit/tensorboard's reader, with every kind of summary.
    const files = await listEventFiles(paths.tensorboard);
    expect(files).toHaveLength(1);
    const { events, truncated } = await readEvents(files[0]!);
    expect(truncated).toBeNull();
    const values = events.flatMap((e) => e.summary ?? []);
    const tags = new Set(values.map((v) => v.tag));
    for (const tag of ["train/loss", "train/acc", "test/loss", "test/acc", "lr", "momentum"]) {
      expect(tags).toContain(tag);
    }
    expect(tags).toContain("images_per_second");
    expect(values.some((v) => v.tag === "train/augmented_batch" && v.image)).toBe(true);
    expect(values.filter((v) => v.tag === "test/confusion_matrix" && v.image)).toHaveLength(2);
    expect(values.some((v) => v.tag.startsWith("weights/") && v.histo)).toBe(true);
    expect(values.some((v) => v.tag === "config")).toBe(true);
    expect(tags).toContain("_hparams_/session_start_info");
    expect(tags).toContain("_hparams_/session_end_info");

    // Checkpoints: best and last, each complete.
    for (const dir of [paths.best, paths.last]) {
      expect((await readdir(dir)).sort()).toEqual(
        expect.arrayContaining(["model.json", "optimizer.bin", "optimizer.json", "state.json"]),
      );
    }
    expect(await readTrainingState(paths.last)).toMatchObject({
      epoch: 2,
      step: 0,
      globalStep: 16,
    });

    // The export, verified in fresh processes.
    const manifest = await readManifest(paths.export);
    expect(manifest.artifacts.map((a) => a.name).sort()).toEqual(
      ["onnx", "tfjs", "tfjs-float16", "tfjs-uint8"].sort(),
    );
    const verify = JSON.parse(
      await readFile(join(paths.export, "verification.json"), "utf8"),
    ) as VerifyReport;
    expect(verify.ok).toBe(true);
    expect(verify.artifacts.every((a) => a.ok)).toBe(true);

    // The report, with its pictures.
    const report = await readFile(join(paths.report, "report.md"), "utf8");
    const html = await readFile(join(paths.report, "report.html"), "utf8");
    for (const picture of [
      "confusion-matrix.png",
      "per-class-accuracy.png",
      "failures.png",
      "loss.png",
      "accuracy.png",
      "lr-schedule.png",
    ]) {
      expect(report).toContain(`(${picture})`);
      expect(html).toContain(`src="${picture}"`);
      const png = decodePNG(new Uint8Array(await readFile(join(paths.report, picture))));
      expect(png.width).toBeGreaterThan(100);
    }
    expect(report).toContain("Most confused pairs");
    expect(html).toContain("<table>");

    // The rest of the workflow on the same run: eval, predict, show-batch.
    const evaluated = await run(["eval", out, ...data]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stdout).toContain(
      `test accuracy ${(metrics.final.bestTestAccuracy! * 100).toFixed(2)}% on 128 images`,
    );
    const image = join(paths.report, "confusion-matrix.png");
    const predicted = await run(["predict", out, image]);
    expect(predicted.code, predicted.stderr).toBe(0);
    expect(predicted.stdout).toMatch(
      /confusion-matrix\.png: \w+ [\d.]+%, \w+ [\d.]+%, \w+ [\d.]+%\n/,
    );
    const shown = await run([
      "show-batch",
      "--preset",
      "smoke",
      "--out",
      join(out, "batch"),
      ...data,
    ]);
    expect(shown.code, shown.stderr).toBe(0);
    const grid = decodePNG(
      new Uint8Array(await readFile(join(out, "batch", "augmented-batch.png"))),
    );
    expect(grid.width).toBeGreaterThan(8 * 32);
  });
});
