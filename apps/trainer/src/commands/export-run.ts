// `cnnkit-train export RUN_DIR` (and the end of `train`): the best checkpoint through
// @cnnkit/export into RUN_DIR/export, then verified in fresh processes, the report kept beside it.

import { join } from "node:path";
import { CIFAR10_IMAGE_BYTES } from "@cnnkit/cifar10";
import { exportModel, formatVerifyReport, type VerifyReport, verifyExport } from "@cnnkit/export";
import * as tf from "@tensorflow/tfjs-core";
import { loadInferenceWeights, readTrainingState } from "../checkpoint.js";
import type { TrainConfig } from "../config.js";
import { normalizeStats, type RunData } from "../data.js";
import { faultPoint } from "../fault-points.js";
import { buildModel } from "../model.js";
import { runPaths, writeFileAtomic, writeJsonAtomic } from "../run-dir.js";
import { readRunConfig } from "./run-config.js";

export interface ExportRunOptions {
  /** The run's data (for the quantisation and verification samples). */
  data: RunData;
  /** The run's config. Defaults to `RUN_DIR/config.json`. */
  config?: TrainConfig;
  /** Test images used to measure quantisation and verify the artifacts. Defaults to 256. */
  samples?: number;
  /**
   * Backend the verification's child processes use for the tfjs artifacts. Defaults to
   * `verifyExport`'s default: the current backend when it is `cpu`, `tensorflow` or `wasm`
   * (the cpu preset's 256 images verify in ~5 s on wasm, ~50 s on cpu), else `cpu`.
   */
  verifyBackend?: string;
}

export interface ExportRunResult {
  dir: string;
  verify: VerifyReport;
}

/** Exports `RUN_DIR/checkpoints/best` to `RUN_DIR/export` and verifies it (`verification.json`/`.txt`). */
export async function exportRun(
  runDir: string,
  options: ExportRunOptions,
): Promise<ExportRunResult> {
  const paths = runPaths(runDir);
  const config = options.config ?? (await readRunConfig(runDir));
  const state = await readTrainingState(paths.best);
  const { data } = options;
  const model = buildModel(config, data.classNames.length);
  try {
    const { ema } = await loadInferenceWeights(paths.best, model);
    const n = Math.min(options.samples ?? 256, data.test.length);
    const images = data.test.images.subarray(0, n * CIFAR10_IMAGE_BYTES);
    const labels = data.test.labels.subarray(0, n);
    // The stats travel with the model, so predict() preprocesses exactly as training did.
    const stats = normalizeStats(config);
    const normalization = stats
      ? { mean: [...stats.mean], std: [...stats.std] }
      : { mean: [0, 0, 0], std: [1, 1, 1] };
    await faultPoint("export");
    await exportModel(model, paths.export, {
      classNames: data.classNames,
      normalization,
      metrics: {
        bestTestAccuracy: state.best?.accuracy ?? Number.NaN,
        bestEpoch: state.best?.epoch ?? 0,
        epochs: config.epochs,
        preset: config.preset,
        weights: ema ? "ema" : "trained",
      },
      evaluation: { images, labels },
      versions: { tfjs: tf.version_core, trainer: "cnnkit-train" },
      overwrite: true,
    });
    const verify = await verifyExport(
      paths.export,
      { images, labels, model },
      {
        ...(options.verifyBackend ? { backend: options.verifyBackend } : {}),
        throwOnFailure: false,
      },
    );
    await writeJsonAtomic(join(paths.export, "verification.json"), verify);
    await writeFileAtomic(
      join(paths.export, "verification.txt"),
      `${formatVerifyReport(verify)}\n`,
    );
    return { dir: paths.export, verify };
  } finally {
    model.dispose();
  }
}
