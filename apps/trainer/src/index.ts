export type { EpochRecord, TrainingState } from "./checkpoint.js";
export {
  loadCheckpoint,
  loadInferenceWeights,
  loadModelWeights,
  readTrainingState,
  saveCheckpoint,
} from "./checkpoint.js";
export { type CliIO, main } from "./cli.js";
export { evaluateExport, evaluateRun } from "./commands/eval.js";
export { type ExportRunOptions, type ExportRunResult, exportRun } from "./commands/export-run.js";
export { showBatch } from "./commands/show-batch.js";
export type { ConfigPatch, PresetName, TrainConfig } from "./config.js";
export { PRESETS, readConfigFile, resolveConfig } from "./config.js";
export type { RunData } from "./data.js";
export { balancedSubset, loadDataset, OFFLINE_MESSAGE, selectRunData } from "./data.js";
export type { TrainerErrorCode } from "./errors.js";
export { TrainerError } from "./errors.js";
export { evaluate } from "./evaluate.js";
export { buildModel } from "./model.js";
export { writeReport } from "./report.js";
export { type RunPaths, runPaths } from "./run-dir.js";
export { type MetricsFile, type TrainOptions, type TrainResult, train } from "./train.js";
