// Installs the training kernels into tfjs's global kernel registry, once, reversibly.

import { ADAMW_UPDATE, L2_NORMS, SGD_UPDATE } from "@cnnkit/optim/kernel-names";
import {
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  GELU,
  GELU_GRAD,
} from "@cnnkit/resnet/kernel-names";
import {
  getKernel,
  type KernelConfig,
  type KernelFunc,
  registerKernel,
  unregisterKernel,
} from "@tensorflow/tfjs-core";
import { makeAdamWUpdate } from "./adamw-update.js";
import { makeFusedBatchNorm } from "./batch-norm-inference.js";
import { makeBatchNormTraining, makeBatchNormTrainingGrad } from "./batch-norm-training.js";
import { makeConv2DBackpropFilter } from "./conv2d-backprop-filter.js";
import { makeConv2DBackpropInput } from "./conv2d-backprop-input.js";
import { makeErf, makeExp } from "./erf-exp.js";
import { makeGelu, makeGeluGrad } from "./gelu.js";
import { RELU_GRAD } from "./kernel-names.js";
import type { KernelBackendName } from "./kernel-ops.js";
import { makeL2Norms } from "./l2-norms.js";
import { makeMean, makeSum } from "./leading-axes-reduction.js";
import { makeMaxPoolGrad } from "./max-pool-grad.js";
import { makeCast, makeIdentity, makeSlice } from "./memory-kernels.js";
import { isOnnxRuntimeKernel } from "./onnxruntime/register.js";
import { installReluGradient, makeReluGrad, restoreReluGradient } from "./relu-gradient.js";
import { makeSGDUpdate } from "./sgd-update.js";
import { makeTile } from "./tile.js";

/** What `registerTrainingKernels()` did, per `"KernelName@backend"`. */
export interface TrainingKernelsReport {
  /** Kernels added where the backend had none (e.g. `Conv2DBackpropFilter@wasm`). */
  readonly added: readonly string[];
  /** Kernels that replaced the backend's own (kept, and restored by `unregisterTrainingKernels`). */
  readonly replaced: readonly string[];
  /** Kernels already registered by an earlier call, left as they were. */
  readonly unchanged: readonly string[];
}

type Factory = (backendName: KernelBackendName, fallback: KernelFunc | undefined) => KernelFunc;

const BACKENDS: readonly KernelBackendName[] = ["cpu", "wasm"];
const FACTORIES: ReadonlyArray<readonly [string, Factory, readonly KernelBackendName[]]> = [
  ["Conv2DBackpropFilter", makeConv2DBackpropFilter, BACKENDS],
  ["Conv2DBackpropInput", makeConv2DBackpropInput, BACKENDS],
  ["Tile", makeTile, BACKENDS],
  ["Sum", makeSum, BACKENDS],
  ["Mean", makeMean, BACKENDS],
  [BATCH_NORM_TRAINING, makeBatchNormTraining, BACKENDS],
  [BATCH_NORM_TRAINING_GRAD, makeBatchNormTrainingGrad, BACKENDS],
  ["Slice", makeSlice, BACKENDS],
  ["MaxPoolGrad", makeMaxPoolGrad, BACKENDS],
  [RELU_GRAD, makeReluGrad, BACKENDS],
  [ADAMW_UPDATE, makeAdamWUpdate, BACKENDS],
  [SGD_UPDATE, makeSGDUpdate, BACKENDS],
  [L2_NORMS, makeL2Norms, BACKENDS],
  // cpu's own already share memory instead of copying it.
  ["Identity", makeIdentity, ["wasm"]],
  ["Cast", makeCast, ["wasm"]],
  // cpu's define the reference numbers (see erf-exp.ts).
  ["Erf", makeErf, ["wasm"]],
  ["Exp", makeExp, ["wasm"]],
  // On wasm only: their SIMD loops give the composition's bits there (see gelu.ts); elsewhere
  // `@cnnkit/resnet`'s `gelu` runs the composition itself.
  [GELU, makeGelu, ["wasm"]],
  [GELU_GRAD, makeGeluGrad, ["wasm"]],
  // BatchNorm at inference: wasm's is a scalar loop; the SIMD one gives its bits (see the file).
  ["FusedBatchNorm", makeFusedBatchNorm, ["wasm"]],
];

// The registry is global to the tfjs-core instance, so this state is module-global too. A marker
// on our configs (not only this map) keeps the call idempotent even across duplicated copies.
const MARK = Symbol.for("@cnnkit/backends/training-kernel");
const originals = new Map<string, KernelConfig | undefined>();

function isOurs(config: KernelConfig | undefined): boolean {
  return config != null && (config as unknown as Record<symbol, unknown>)[MARK] === true;
}

/**
 * Registers `Conv2DBackpropFilter`, a fast `Conv2DBackpropInput`, fast `Tile`, `Sum` and `Mean`
 * (BatchNorm and its gradient), two fused training-mode BatchNorm kernels (`CnnkitBatchNorm*`,
 * which `@cnnkit/resnet`'s BatchNorm layers use when present), a block-copy `Slice`, and on wasm
 * an `Identity` and same-dtype `Cast` that share memory instead of copying it, and ReLU's gradient
 * as one kernel (`CnnkitReluGrad`, with tfjs-core's `Relu` gradient replaced by one that calls it
 * where the active backend has it), one AdamW update per variable as one kernel
 * (`CnnkitAdamWUpdate`, which `@cnnkit/optim`'s AdamW uses when present; `CnnkitSGDUpdate` for
 * its SGD) and the L2 norms of
 * several tensors as one (`CnnkitL2Norms`, for its `clipByGlobalNorm`), `MaxPoolGrad` for
 * non-overlapping windows and, on wasm, SIMD `Erf` and `Exp` (fastResNet's pools and GELUs) and
 * GELU and its gradient as one kernel each (`CnnkitGelu[Grad]`, which `@cnnkit/resnet`'s `gelu`
 * uses when present), for the `wasm` and `cpu` backends,
 * whether or not those are loaded yet. Calling it again does nothing. It replaces the backends' own kernels of those names,
 * kept as fallbacks (NCHW convolutions, string tensors, reductions over other than the leading
 * axes, overlapping pooling windows) and restored by `unregisterTrainingKernels()`. Call it after
 * importing the backend packages: a backend imported later re-registers its own kernels over these.
 */
export function registerTrainingKernels(): TrainingKernelsReport {
  const added: string[] = [];
  const replaced: string[] = [];
  const unchanged: string[] = [];
  for (const backendName of BACKENDS) {
    for (const [kernelName, factory, backends] of FACTORIES) {
      if (!backends.includes(backendName)) continue;
      const key = `${kernelName}@${backendName}`;
      const existing = getKernel(kernelName, backendName);
      // Ours already, or the faster ONNX Runtime kernel on top of ours: leave it.
      if (isOurs(existing) || isOnnxRuntimeKernel(existing)) {
        unchanged.push(key);
        continue;
      }
      if (existing) unregisterKernel(kernelName, backendName);
      originals.set(key, existing);
      const config: KernelConfig = {
        kernelName,
        backendName,
        kernelFunc: factory(backendName, existing?.kernelFunc),
        // The replaced kernel's setup (wasm's bind their C++ functions there) still has to run
        // when a backend starts after this call, since ours falls back on it.
        ...(existing?.setupFunc ? { setupFunc: existing.setupFunc } : {}),
      };
      Object.defineProperty(config, MARK, { value: true });
      registerKernel(config);
      (existing ? replaced : added).push(key);
    }
  }
  installReluGradient();
  return { added, replaced, unchanged };
}

/**
 * Restores the registry as it was before `registerTrainingKernels()` (for comparisons and tests).
 * Call `unregisterOnnxRuntimeKernels()` first if those are registered: they sit on top of these.
 */
export function unregisterTrainingKernels(): void {
  restoreReluGradient();
  for (const backendName of BACKENDS) {
    for (const [kernelName, , backends] of FACTORIES) {
      if (!backends.includes(backendName)) continue;
      const key = `${kernelName}@${backendName}`;
      if (!isOurs(getKernel(kernelName, backendName))) continue;
      unregisterKernel(kernelName, backendName);
      const original = originals.get(key);
      if (original) registerKernel(original);
      originals.delete(key);
    }
  }
}
