export {
  AdamW,
  type AdamWOptions,
  type ResolvedAdamWOptions,
  resolveAdamWOptions,
} from "./adamw.js";
export { applySchedule, type ScheduledValues } from "./apply-schedule.js";
export {
  type ClipResult,
  clipByGlobalNorm,
  clipByGlobalNormAsync,
} from "./clip-by-global-norm.js";
export { type DecayFilter, decayKernelsOnly } from "./decay-filter.js";
export {
  type DecoupledSGDOptions,
  type DecoupledSGDSettings,
  decoupledSGD,
} from "./decoupled-sgd.js";
export type { OptimErrorCode } from "./errors.js";
export { OptimError } from "./errors.js";
export { checkFiniteGradients, isHostMemoryBackend } from "./finite-gradients.js";
// The kernel names under their earlier names; the contracts live in `@cnnkit/optim/kernel-names`.
export {
  ADAMW_UPDATE as ADAMW_UPDATE_KERNEL,
  L2_NORMS as L2_NORMS_KERNEL,
  SGD_UPDATE as SGD_UPDATE_KERNEL,
} from "./kernel-names.js";
export { Lookahead, type LookaheadOptions } from "./lookahead.js";
export {
  getLookaheadState,
  getOptimizerState,
  getWeightEMAState,
  loadLookahead,
  loadOptimizerState,
  loadWeightEMA,
  type OptimizerState,
  type OptimizerStateManifest,
  type StateFileOptions,
  type StateTensorSpec,
  saveLookahead,
  saveOptimizerState,
  saveWeightEMA,
  setLookaheadState,
  setOptimizerState,
  setWeightEMAState,
} from "./optimizer-state.js";
export {
  batchNormBiases,
  type ParamGroup,
  type ResolvedParamGroup,
  type VariableMatcher,
} from "./param-groups.js";
export { type ResolvedSGDOptions, resolveSGDOptions, SGD, type SGDOptions } from "./sgd.js";
export type { EMATarget, WeightLike } from "./shadow-weights.js";
export type { NamedTensor, VariableHyperparameters } from "./slot-optimizer.js";
export { WeightEMA, type WeightEMAOptions } from "./weight-ema.js";
