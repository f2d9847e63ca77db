// @cnnkit/train: the training step of a tfjs-layers classifier. Runs wherever tfjs does (the
// data-parallel replicas, Node only, are the entry `@cnnkit/train/data-parallel`).
export type { ClassifierGradients, ClassifierGradientsOptions } from "./classifier-gradients.js";
export { classifierGradients, trainableVariables } from "./classifier-gradients.js";
export type {
  DynamicLossScalerOptions,
  DynamicLossScalerState,
  LossScaleUpdate,
} from "./dynamic-loss-scaler.js";
export { DynamicLossScaler } from "./dynamic-loss-scaler.js";
export type { Float16Options, Float16StepReport, HalfUnderflow } from "./emulated-float16.js";
export { underflowFraction } from "./emulated-float16.js";
export type { TrainErrorCode } from "./errors.js";
export { TrainError } from "./errors.js";
export {
  FLOAT16_MAX,
  FLOAT16_MIN_NORMAL,
  FLOAT16_MIN_SUBNORMAL,
  roundToHalf,
} from "./round-to-half.js";
export type { TrainStepOptions, TrainStepResult } from "./train-step.js";
export {
  applyBatchGradients,
  DIVERGENCE_FACTOR,
  divergenceLimit,
  NonFiniteLossError,
  trainStep,
} from "./train-step.js";
