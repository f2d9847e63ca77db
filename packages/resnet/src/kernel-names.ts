// The contracts of the kernels this package calls by name, defined once as tfjs-core's
// `kernel_names.ts` defines its own: a backend that implements one (`@cnnkit/backends` does both
// for cpu and wasm) imports its name, inputs and attributes from `@cnnkit/resnet/kernel-names`.
// Loading this module loads nothing else (its only import is a type): no tfjs-layers.
//
// Inputs are generic in the tensor type: `batchNormTraining` builds them from `Tensor`s (which
// `runKernel` takes), a kernel reads them as the `TensorInfo`s the engine hands it. Types, not
// interfaces, so that they are `NamedTensorMap`s and `NamedAttrMap`s without a cast.
import type { TensorInfo } from "@tensorflow/tfjs-core";

/**
 * Training-mode batch normalisation over every axis but the last (`batchNormTraining`):
 * float32 `x [..., C], gamma [C], beta [C]` → `[y, mean [C], variance [C]]`, the variance biased
 * (as `tf.moments`).
 */
export const BATCH_NORM_TRAINING = "CnnkitBatchNormTraining";
export type BatchNormTrainingInputs<T extends TensorInfo = TensorInfo> = {
  x: T;
  gamma: T;
  beta: T;
};
export type BatchNormTrainingAttrs = { epsilon: number };

/**
 * Its gradient: `dy, x, mean, variance, gamma` (the forward's statistics) →
 * `[dx, dgamma [C], dbeta [C]]`, with the same `epsilon`.
 */
export const BATCH_NORM_TRAINING_GRAD = "CnnkitBatchNormTrainingGrad";
export type BatchNormTrainingGradInputs<T extends TensorInfo = TensorInfo> = {
  dy: T;
  x: T;
  mean: T;
  variance: T;
  gamma: T;
};
export type BatchNormTrainingGradAttrs = BatchNormTrainingAttrs;

/**
 * GELU, the exact erf form (`gelu`): float32 `x` → `y = x · 0.5 · (1 + erf(x / √2))`, computed
 * as tfjs-layers' `gelu` activation computes it, so that a backend may return the same bits.
 */
export const GELU = "CnnkitGelu";
export type GeluInputs<T extends TensorInfo = TensorInfo> = { x: T };

/**
 * Its gradient: `dy, x` → `dx = dy · Φ(x) + dy · x · φ(x)`, in the operations tfjs's autodiff
 * runs for the composite form (see `gelu` in `@cnnkit/resnet`).
 */
export const GELU_GRAD = "CnnkitGeluGrad";
export type GeluGradInputs<T extends TensorInfo = TensorInfo> = { dy: T; x: T };
