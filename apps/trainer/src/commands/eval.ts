// `cnnkit-train eval RUN_DIR|EXPORT_DIR`: the test set through a checkpoint or an export, then
// the full report (metrics, confusion matrix, per-class table, failures).
import { join, resolve } from "node:path";
import { Cifar10Batches } from "@cnnkit/cifar10";
import { loadModelFromDir, readManifest, verifyArtifactFiles } from "@cnnkit/export";
import type { MetricsResult } from "@cnnkit/metrics";
import { loadInferenceWeights, readTrainingState } from "../checkpoint.js";
import type { TrainConfig } from "../config.js";
import type { RunData } from "../data.js";
import { testBatches } from "../data.js";
import { type EvaluationRuntime, evaluate } from "../evaluate.js";
import { buildModel } from "../model.js";
import { readReportCurves, writeReport } from "../report.js";
import { exists, runPaths } from "../run-dir.js";

export interface EvalResult {
  result: MetricsResult;
  /** The report directory written. */
  reportDir: string;
}

export interface EvalOptions {
  /** Where the report goes. Defaults to `RUN_DIR/report`, or `EXPORT_DIR-report`. */
  reportDir?: string;
  /** The backend's name, written in the report. */
  backend?: string;
  /** Where the forward passes run (see `evaluate`). Defaults to `"tfjs"`. */
  evaluation?: EvaluationRuntime;
  /** Told why, when `evaluation: "onnxruntime"` falls back to tfjs. */
  say?: (line: string) => void;
}

function runtimeOptions(options: EvalOptions) {
  return {
    runtime: options.evaluation ?? "tfjs",
    onFallback: (line: string) => options.say?.(line),
  };
}

/** Evaluates `RUN_DIR/checkpoints/best` and writes `RUN_DIR/report` (or `reportDir`). */
export async function evaluateRun(
  runDir: string,
  config: TrainConfig,
  data: RunData,
  options: EvalOptions & { stepsPerEpoch?: number } = {},
): Promise<EvalResult> {
  const paths = runPaths(runDir);
  const state = await readTrainingState(paths.best);
  const model = buildModel(config, data.classNames.length);
  let result: MetricsResult;
  let ema = false;
  try {
    ema = (await loadInferenceWeights(paths.best, model)).ema;
    result = await evaluate(
      model,
      testBatches(data.test, config),
      data.classNames,
      runtimeOptions(options),
    );
  } finally {
    model.dispose();
  }
  const reportDir = options.reportDir ?? paths.report;
  await writeReport(reportDir, {
    config,
    result,
    test: data.test,
    history: state.history,
    stepsPerEpoch: options.stepsPerEpoch ?? trainStepsPerEpoch(config, data),
    curves: await readReportCurves(paths.tensorboard),
    source: `${paths.best} (epoch ${state.best?.epoch ?? state.epoch}${ema ? ", EMA weights" : ""})`,
    ...(options.backend ? { backend: options.backend } : {}),
  });
  return { result, reportDir };
}

/** Steps per epoch of the run's training loader (for the schedule picture). */
export function trainStepsPerEpoch(config: TrainConfig, data: RunData): number {
  return Math.ceil(data.train.length / config.batchSize);
}

/** Evaluates an export directory (its float32 tfjs model, with the manifest's preprocessing). */
export async function evaluateExport(
  exportDir: string,
  config: TrainConfig,
  data: RunData,
  options: EvalOptions = {},
): Promise<EvalResult> {
  const dir = resolve(exportDir);
  const manifest = await readManifest(dir);
  // The weights as exported, or a one-line refusal naming the file that changed since.
  await verifyArtifactFiles(dir, manifest, "tfjs");
  const model = await loadModelFromDir(join(dir, "model.json"));
  let result: MetricsResult;
  try {
    const [m0, m1, m2] = manifest.normalization.mean;
    const [s0, s1, s2] = manifest.normalization.std;
    const batches = new Cifar10Batches(data.test, {
      batchSize: 256,
      shuffle: false,
      normalize: { mean: [m0!, m1!, m2!], std: [s0!, s1!, s2!] },
    });
    result = await evaluate(model, batches, manifest.classNames, runtimeOptions(options));
  } finally {
    model.dispose();
  }
  const reportDir = options.reportDir ?? `${dir}-report`;
  await writeReport(reportDir, {
    config,
    result,
    test: data.test,
    history: [],
    source: `${dir} (exported float32 tfjs model)`,
    ...(options.backend ? { backend: options.backend } : {}),
  });
  return { result, reportDir };
}

/** Whether `dir` is an export (has `manifest.json`) rather than a run directory. */
export async function isExportDir(dir: string): Promise<boolean> {
  return exists(join(dir, "manifest.json"));
}
