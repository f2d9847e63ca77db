// The contracts of the kernels this package calls by name itself, defined once as tfjs-core's
// `kernel_names.ts` defines its own. The kernels other packages call are defined next to their
// callers and imported from there: `@cnnkit/optim/kernel-names` (the AdamW and SGD updates, the
// L2 norms), `@cnnkit/resnet/kernel-names` (training-mode BatchNorm and its gradient).
import type { TensorInfo } from "@tensorflow/tfjs-core";

/**
 * ReLU's gradient (called by the `Relu` gradient `registerTrainingKernels()` installs):
 * float32 `dy, x` of one shape → `dx`, `dy` where `x > 0`, NaN where `x` is NaN (as
 * `dy·step(x)`), else 0. No attributes.
 */
export const RELU_GRAD = "CnnkitReluGrad";
export type ReluGradInputs<T extends TensorInfo = TensorInfo> = { dy: T; x: T };
