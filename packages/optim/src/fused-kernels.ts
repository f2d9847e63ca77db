// Whether to run one of the fused kernels of kernel-names.ts (`@cnnkit/backends` registers all
// three for cpu and wasm). Each is looked up by name on the active backend at every call, and the
// tfjs ops run wherever it is missing: webgl, tfjs-node, or a tfjs without `@cnnkit/backends`.
import { getBackend, getKernel, type Tensor } from "@tensorflow/tfjs-core";

/** Whether `kernel` can run here: registered for the active backend, every input float32. */
export function canFuse(kernel: string, inputs: readonly (Tensor | undefined)[]): boolean {
  return (
    getKernel(kernel, getBackend()) !== undefined &&
    inputs.every((t) => t === undefined || t.dtype === "float32")
  );
}
