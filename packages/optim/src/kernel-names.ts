// The contracts of the kernels this package calls by name, defined once as tfjs-core's
// `kernel_names.ts` defines its own: a backend that implements one (`@cnnkit/backends` does all
// three for cpu and wasm) imports its name, inputs and attributes from `@cnnkit/optim/kernel-names`.
// Loading this module loads nothing else (its only import is a type).
//
// Inputs are generic in the tensor type: the optimizers build them from `Tensor`s (which
// `runKernel` takes), a kernel reads them as the `TensorInfo`s the engine hands it. Types, not
// interfaces, so that they are `NamedTensorMap`s and `NamedAttrMap`s without a cast.
import type { TensorInfo } from "@tensorflow/tfjs-core";

/**
 * One AdamW update of one variable (`AdamW.updateVariable`): float32 `value, gradient, m, v` of
 * one shape → `[value', m', v']` with `m' = beta1·m + (1 − beta1)·g`,
 * `v' = beta2·v + (1 − beta2)·g²` and
 * `value' = value·decay − stepSize · m' / (sqrt(v') / sqrtBias2 + epsilon)`.
 */
export const ADAMW_UPDATE = "CnnkitAdamWUpdate";
export type AdamWUpdateInputs<T extends TensorInfo = TensorInfo> = {
  value: T;
  gradient: T;
  m: T;
  v: T;
};
export type AdamWUpdateAttrs = {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** `1 − learningRate·weightDecay`. */
  decay: number;
  /** `learningRate / (1 − beta1^step)`. */
  stepSize: number;
  /** `sqrt(1 − beta2^step)`. */
  sqrtBias2: number;
};

/**
 * One SGD update of one variable (`SGD.updateVariable`): float32 `value, gradient, buffer?` of
 * one shape → `[value']` when `momentum` is 0, else `[value', buffer']`. With
 * `d0 = gradient + weightDecay·value`: `buffer' = momentum·buffer + (1 − dampening)·d0`, or `d0`
 * when there is no buffer yet (PyTorch's first step); `d = nesterov ? d0 + momentum·buffer' :
 * buffer'` (`d0` without momentum); `value' = value − learningRate·d`.
 */
export const SGD_UPDATE = "CnnkitSGDUpdate";
export type SGDUpdateInputs<T extends TensorInfo = TensorInfo> = {
  value: T;
  gradient: T;
  /** The momentum buffer; absent on the first step and when `momentum` is 0. */
  buffer?: T;
};
export type SGDUpdateAttrs = {
  learningRate: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
};

/**
 * The L2 norm of each input (`clipByGlobalNorm`): float32 tensors of any shapes under the names
 * `"0"`, `"1"`, … → one float32 tensor `[n]`, `sqrt(Σ x²)` of each in that order. No attributes.
 */
export const L2_NORMS = "CnnkitL2Norms";
export type L2NormsInputs<T extends TensorInfo = TensorInfo> = { [index: string]: T };
