export {
  ADAMW_UPDATE_KERNEL,
  AdamW,
  type AdamWOptions,
  type ResolvedAdamWOptions,
  resolveAdamWOptions,
} from "./adamw.js";
export { applySchedule, type ScheduledValues } from "./apply-schedule.js";
export { type ClipResult, clipByGlobalNorm, L2_NORMS_KERNEL } from "./clip-by-global-norm.js";
export { type DecayFilter, decayKernelsOnly } from "./decay-filter.js";
export { OptimError } from "./errors.js";
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
