// The L2 norm of each of several tensors, as one kernel, for the JS-hosted backends (cpu, wasm):
//
//   L2_NORMS  inputs "0", "1", … (float32, any shapes) → [n] float32: sqrt(Σ x²) of each
//
// `@cnnkit/optim`'s `clipByGlobalNorm` runs it when the active backend has it, and `tf.norm` per
// tensor (abs, square, sum, sqrt) and a `stack` otherwise: ~4 kernels per gradient, 190 per step
// for a 47-variable SmallResNet, whose per-call costs outweigh the arithmetic on the CPU
// backends. Sums in float64.
import { L2_NORMS } from "@cnnkit/optim/kernel-names";
import type { KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type KernelBackendName, kernelOps } from "./kernel-ops.js";

export function makeL2Norms(backendName: KernelBackendName): KernelFunc {
  return (args) => {
    const inputs = Object.keys(args.inputs)
      .sort((a, b) => Number(a) - Number(b))
      .map((k) => args.inputs[k] as TensorInfo);
    const bad = inputs.findIndex((t) => t == null || t.dtype !== "float32");
    if (bad >= 0) {
      const t = inputs[bad];
      throw new BackendError(
        "unsupported_tensor",
        `${L2_NORMS} on '${backendName}': expected float32 tensors, got ${t == null ? "none" : `${t.dtype} [${t.shape}]`} at input ${bad}`,
      );
    }
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const out = ops.alloc([inputs.length]);
    const norms = new Float64Array(inputs.length);
    for (const [i, t] of inputs.entries()) {
      const x = ops.values(t);
      let s = 0;
      for (let j = 0; j < x.length; j++) s += (x[j] as number) * (x[j] as number);
      norms[i] = Math.sqrt(s);
    }
    ops.values(out).set(norms);
    return out;
  };
}
