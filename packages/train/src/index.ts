// @cnnkit/train: the training step of a tfjs-layers classifier. Runs wherever tfjs does (the
// data-parallel replicas, Node only, are the entry `@cnnkit/train/data-parallel`).
export type { ClassifierGradients, ClassifierGradientsOptions } from "./classifier-gradients.js";
export { classifierGradients, trainableVariables } from "./classifier-gradients.js";
export type { TrainErrorCode } from "./errors.js";
export { TrainError } from "./errors.js";
export type { TrainStepOptions, TrainStepResult } from "./train-step.js";
export {
  applyBatchGradients,
  DIVERGENCE_FACTOR,
  divergenceLimit,
  NonFiniteLossError,
  trainStep,
} from "./train-step.js";
