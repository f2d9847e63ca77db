// One SGD update of one variable as a single kernel, for the JS-hosted backends (cpu, wasm):
//
//   SGD_UPDATE  value, gradient, buffer? (float32, one shape);
//               attrs { learningRate, momentum, dampening, weightDecay, nesterov }
//               → value − lr·d, and (momentum ≠ 0) buffer', where with d0 = g + weightDecay·value:
//                 buffer' = momentum·buffer + (1 − dampening)·d0, or d0 when there is no buffer
//                 yet (PyTorch's first step); d = nesterov ? d0 + momentum·buffer' : buffer'
//                 (d = d0 without momentum)
//
// `@cnnkit/optim`'s SGD runs it when the active backend has it, and the same formula as up to 7
// tfjs ops per variable otherwise (see adamw-update.ts for why one kernel pays on the CPU
// backends). Float64 per element; the buffer is rounded to float32 before the step uses it, as
// the ops do.
import { SGD_UPDATE, type SGDUpdateAttrs, type SGDUpdateInputs } from "@cnnkit/optim/kernel-names";
import type { KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type KernelBackendName, kernelOps } from "./kernel-ops.js";

export function makeSGDUpdate(backendName: KernelBackendName): KernelFunc {
  return (args) => {
    // Partial: checked below, as a caller may pass anything.
    const { value, gradient, buffer } = args.inputs as Partial<SGDUpdateInputs>;
    const {
      learningRate: lr,
      momentum,
      dampening,
      weightDecay: wd,
      nesterov,
    } = args.attrs as SGDUpdateAttrs;
    const inputs = buffer ? [value, gradient, buffer] : [value, gradient];
    const size = (t: TensorInfo) => t.shape.reduce((a, b) => a * b, 1);
    if (
      value == null ||
      inputs.some((t) => t == null || t.dtype !== "float32" || size(t) !== size(value))
    ) {
      const got = inputs.map((t) => (t == null ? "none" : `${t.dtype} [${t.shape}]`)).join(", ");
      throw new BackendError(
        "unsupported_tensor",
        `${SGD_UPDATE} on '${backendName}': expected float32 value, gradient (and buffer) of one shape, got ${got}`,
      );
    }
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const withBuffer = momentum !== 0;
    const outs = withBuffer
      ? [ops.alloc(value.shape), ops.alloc(value.shape)]
      : [ops.alloc(value.shape)];
    // Views after every allocation (on wasm a heap growth detaches older ones).
    const p = ops.values(value);
    const g = ops.values(gradient as TensorInfo);
    const b = buffer && withBuffer ? ops.values(buffer) : null;
    const pOut = ops.values(outs[0] as TensorInfo);
    const bOut = withBuffer ? ops.values(outs[1] as TensorInfo) : null;
    const keep = 1 - dampening;
    for (let i = 0; i < p.length; i++) {
      const pi = p[i] as number;
      // The ops round g + wd·p to float32 before using it: so does this.
      const d0 = wd === 0 ? (g[i] as number) : Math.fround((g[i] as number) + wd * pi);
      let d = d0;
      if (bOut) {
        const bi = b ? Math.fround(momentum * (b[i] as number) + keep * d0) : d0;
        bOut[i] = bi;
        d = nesterov ? d0 + momentum * bi : bi;
      }
      pOut[i] = pi - lr * d;
    }
    return outs;
  };
}
