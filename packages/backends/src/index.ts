// The contracts of the kernels other packages call, re-exported from where they are defined.
export { ADAMW_UPDATE, L2_NORMS, SGD_UPDATE } from "@cnnkit/optim/kernel-names";
export { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from "@cnnkit/resnet/kernel-names";
export type { BackendErrorCode } from "./errors.js";
export { BackendError } from "./errors.js";
export type { ReluGradInputs } from "./kernel-names.js";
export { RELU_GRAD } from "./kernel-names.js";
export type { ProcessFacts } from "./malloc-tunables.js";
export { glibcMallocAdvice, RECOMMENDED_GLIBC_TUNABLES } from "./malloc-tunables.js";
export type { NativeSession, OnnxRuntimeModule } from "./onnxruntime/load.js";
export { loadOnnxRuntime } from "./onnxruntime/load.js";
export type {
  OnnxRuntimeKernelsOptions,
  OnnxRuntimeKernelsReport,
} from "./onnxruntime/register.js";
export {
  ONNXRUNTIME_KERNELS,
  onnxRuntimeKernelsActive,
  registerOnnxRuntimeKernels,
  unregisterOnnxRuntimeKernels,
} from "./onnxruntime/register.js";
export { TRAINING_GRAPH_LAYERS } from "./onnxruntime/training-graph.js";
export type {
  OnnxRuntimeTrainingStep,
  OnnxRuntimeTrainingStepOptions,
  TrainingStepGradients,
} from "./onnxruntime/training-step.js";
export { onnxRuntimeTrainingStep } from "./onnxruntime/training-step.js";
export type { TrainingKernelsReport } from "./register-training-kernels.js";
export { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
export type {
  BackendAttempt,
  BackendChoice,
  BackendSelection,
  UseBackendOptions,
} from "./use-backend.js";
export { useBackend } from "./use-backend.js";
