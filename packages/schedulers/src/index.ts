export { ConstantLR, type ConstantLROptions } from "./constant-lr.js";
export { CosineAnnealingLR, type CosineAnnealingLROptions } from "./cosine-annealing.js";
export type { ScheduleErrorCode } from "./errors.js";
export { ScheduleError } from "./errors.js";
export { LinearWarmup, type LinearWarmupOptions } from "./linear-warmup.js";
export type { ConfigValue, FreshSchedule, LRSchedule, ScheduleState } from "./lr-schedule.js";
export { MultiStepLR, type MultiStepLROptions } from "./multi-step-lr.js";
export {
  OneCycleLR,
  type OneCycleLROptions,
  type ResolvedOneCycleLROptions,
  resolveOneCycleLROptions,
} from "./one-cycle.js";
export { PiecewiseLinear, type PiecewiseLinearOptions } from "./piecewise-linear.js";
export {
  type ScheduleSample,
  type ScheduleTableOptions,
  sampleSchedule,
  scheduleTable,
} from "./sample-schedule.js";
export { StepLR, type StepLROptions } from "./step-lr.js";
