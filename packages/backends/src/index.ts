export { ADAMW_UPDATE } from "./adamw-update.js";
export { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from "./batch-norm-training.js";
export { BackendError } from "./errors.js";
export { L2_NORMS } from "./l2-norms.js";
export type {
  NativeSession,
  OnnxRuntimeKernelsOptions,
  OnnxRuntimeKernelsReport,
  OnnxRuntimeModule,
} from "./onnxruntime-kernels.js";
export {
  loadOnnxRuntime,
  ONNXRUNTIME_KERNELS,
  onnxRuntimeKernelsActive,
  registerOnnxRuntimeKernels,
  unregisterOnnxRuntimeKernels,
} from "./onnxruntime-kernels.js";
export type { TrainingKernelsReport } from "./register-training-kernels.js";
export { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
export { RELU_GRAD } from "./relu-gradient.js";
export { SGD_UPDATE } from "./sgd-update.js";
export type {
  BackendAttempt,
  BackendChoice,
  BackendSelection,
  UseBackendOptions,
} from "./use-backend.js";
export { useBackend } from "./use-backend.js";
