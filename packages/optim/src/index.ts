export {
  AdamW,
  type AdamWOptions,
  type ResolvedAdamWOptions,
  resolveAdamWOptions,
} from "./adamw.js";
export { applySchedule, type ScheduledValues } from "./apply-schedule.js";
export { type ClipResult, clipByGlobalNorm } from "./clip-by-global-norm.js";
export { type DecayFilter, decayKernelsOnly } from "./decay-filter.js";
export { OptimError } from "./errors.js";
export { ADAMW_UPDATE_KERNEL, L2_NORMS_KERNEL, SGD_UPDATE_KERNEL } from "./fused-kernels.js";
export {
  getOptimizerState,
  getWeightEMAState,
  loadOptimizerState,
  loadWeightEMA,
  type OptimizerState,
  type OptimizerStateManifest,
  type StateFileOptions,
  type StateTensorSpec,
  saveOptimizerState,
  saveWeightEMA,
  setOptimizerState,
  setWeightEMAState,
} from "./optimizer-state.js";
export { type ResolvedSGDOptions, resolveSGDOptions, SGD, type SGDOptions } from "./sgd.js";
export type { NamedTensor } from "./slot-optimizer.js";
export { type EMATarget, WeightEMA, type WeightEMAOptions, type WeightLike } from "./weight-ema.js";
