// ReLU's gradient as one kernel. tfjs-core computes it as dy · cast(step(x)): two passes over
// the activations (a Step, a Multiply) and a tensor in between, 13 times per ResNet step.
// RELU_GRAD (kernel-names.ts) does it in one pass (WebAssembly SIMD on wasm, see wasm-simd.ts), and the Relu
// gradient registered by `registerTrainingKernels()` calls it on the backends that have it and
// tfjs's composition everywhere else. It has a gradient of its own, so second-order gradients
// still work.

import * as tf from "@tensorflow/tfjs-core";
import {
  type GradConfig,
  getBackend,
  getGradient,
  getKernel,
  type KernelBackend,
  type KernelFunc,
  registerGradient,
  type Tensor,
  unregisterGradient,
} from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { RELU_GRAD, type ReluGradInputs } from "./kernel-names.js";
import { type KernelBackendName, kernelOps } from "./kernel-ops.js";
import { simdReluGrad } from "./wasm-simd.js";

/** dx = dy where x > 0, NaN where x is NaN (as dy·step(x)), else 0; inputs { dy, x }. */
export function makeReluGrad(backendName: KernelBackendName): KernelFunc {
  return (args) => {
    const { dy, x } = args.inputs as ReluGradInputs;
    if (dy.dtype !== "float32" || x.dtype !== "float32") {
      throw new BackendError(
        "unsupported_tensor",
        `${RELU_GRAD} on '${backendName}': expected float32 dy and x, got ${dy.dtype} and ${x.dtype}`,
      );
    }
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const out = ops.alloc(x.shape);
    let n = 1;
    for (const d of x.shape) n *= d;
    let done = 0;
    const simd = n >= 4 ? (ops.simd?.() ?? null) : null;
    if (simd && ops.address) {
      done = n - (n % 4);
      simdReluGrad(simd, ops.address(out), ops.address(dy), ops.address(x), done);
    }
    if (done < n) {
      const o = ops.values(out);
      const d = ops.values(dy);
      const xv = ops.values(x);
      for (let i = done; i < n; i++) {
        const xi = xv[i] as number;
        o[i] = xi > 0 ? (d[i] as number) : Number.isNaN(xi) ? xi : 0;
      }
    }
    return out;
  };
}

const stepMask = (x: Tensor) => tf.cast(tf.step(x), "float32");

/** Relu's gradient: the fused kernel where the active backend has one, tfjs's ops otherwise. */
const reluGradient: GradConfig = {
  kernelName: "Relu",
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => {
    const [x] = saved as [Tensor];
    const d = dy as Tensor;
    const inputs: ReluGradInputs<Tensor> = { dy: d, x };
    return {
      x: () =>
        getKernel(RELU_GRAD, getBackend())
          ? (tf.engine().runKernel(RELU_GRAD, inputs) as Tensor)
          : tf.mul(d, stepMask(x)),
    };
  },
};

/** The fused kernel's own gradient: linear in dy with the same mask; zero almost everywhere in x. */
const reluGradGradient: GradConfig = {
  kernelName: RELU_GRAD,
  inputsToSave: ["x"],
  gradFunc: (g, saved) => {
    const [x] = saved as [Tensor];
    return { dy: () => tf.mul(g as Tensor, stepMask(x)), x: () => tf.zerosLike(x) };
  },
};

let replaced: GradConfig | undefined | null = null; // null: not installed

/** Installs the Relu gradient above (idempotent); `restoreReluGradient` puts tfjs's back. */
export function installReluGradient(): void {
  if (replaced !== null) return;
  replaced = getGradient("Relu");
  registerGradient(reluGradient);
  registerGradient(reluGradGradient);
}

export function restoreReluGradient(): void {
  if (replaced === null) return;
  if (replaced) registerGradient(replaced);
  else unregisterGradient("Relu");
  unregisterGradient(RELU_GRAD);
  replaced = null;
}
