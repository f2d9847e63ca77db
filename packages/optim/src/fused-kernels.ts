// The kernels a backend may register to fuse an optimizer's elementwise chains (`@cnnkit/backends`
// registers all three for cpu and wasm). Each is looked up by name on the active backend at every
// call, and the tfjs ops run wherever it is missing: webgl, tfjs-node, or a tfjs without
// `@cnnkit/backends`.
import { getBackend, getKernel, type Tensor } from "@tensorflow/tfjs-core";

/**
 * One AdamW update of one variable: `{ value, gradient, m, v }` → `[value, m, v]`, attrs
 * `{ beta1, beta2, epsilon, decay, stepSize, sqrtBias2 }` (see `AdamW.updateVariable`).
 */
export const ADAMW_UPDATE_KERNEL = "CnnkitAdamWUpdate";

/**
 * One SGD update of one variable: `{ value, gradient, buffer? }` → `[value]` when `momentum` is 0,
 * else `[value, buffer]` (a missing buffer starts as the decayed gradient, as PyTorch's does),
 * attrs `{ learningRate, momentum, dampening, weightDecay, nesterov }`.
 */
export const SGD_UPDATE_KERNEL = "CnnkitSGDUpdate";

/** The L2 norm of each of the float32 inputs "0", "1", … → one float32 tensor [n]. */
export const L2_NORMS_KERNEL = "CnnkitL2Norms";

/** Whether `kernel` can run here: registered for the active backend, every input float32. */
export function canFuse(kernel: string, inputs: readonly (Tensor | undefined)[]): boolean {
  return (
    getKernel(kernel, getBackend()) !== undefined &&
    inputs.every((t) => t === undefined || t.dtype === "float32")
  );
}
