// GELU forward and backward as one kernel each on wasm (`@cnnkit/resnet`'s `gelu` calls them
// where registered; contracts in `@cnnkit/resnet/kernel-names`). tfjs-layers' composition,
// x · 0.5 · (1 + erf(x / √2)), is 4 kernels forward and 10 backward, each a pass over the
// activation and a tensor as large; the tape holds four of them per GELU until the backward pass.
// fastResNet (seven GELUs) spent ~25% of a wasm training step in them at batch 256, and at batch
// 1,024 their tensors filled the wasm heap's 4 GiB, where tfjs-backend-wasm's allocator slowed a
// step to over ten minutes.
//
// The SIMD loops (wasm-simd.ts: geluBody, geluGradBody) run the composition's float32 operations
// in its order, with the erf and exp of the Erf and Exp kernels (erf-exp.ts), so their results
// are the composition's bits. Where the SIMD loops cannot run (a runtime without WebAssembly
// SIMD), the same composition runs on the backend's own kernels, inside the kernel.

import { GELU, GELU_GRAD, type GeluGradInputs, type GeluInputs } from "@cnnkit/resnet/kernel-names";
import type { KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type KernelBackendName, type KernelOps, kernelOps } from "./kernel-ops.js";
import { simdGeluGrad, simdUnary } from "./wasm-simd.js";

function checkFloat32(kernel: string, backendName: string, inputs: Record<string, TensorInfo>) {
  for (const [name, t] of Object.entries(inputs)) {
    if (t.dtype !== "float32") {
      throw new BackendError(
        "unsupported_tensor",
        `${kernel} on '${backendName}': expected float32 ${name}, got ${t.dtype}`,
      );
    }
  }
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The composition on the backend's own kernels (no SIMD loops): `f(op, scalar)` gets a binary
 * op runner and scalar tensors; every intermediate is freed, the result kept.
 */
function composed(
  ops: KernelOps,
  f: (
    op: (name: string, a: TensorInfo, b: TensorInfo) => TensorInfo,
    unary: (name: string, x: TensorInfo) => TensorInfo,
    scalar: (v: number) => TensorInfo,
  ) => TensorInfo,
): TensorInfo {
  const temps: TensorInfo[] = [];
  const keep = (t: TensorInfo) => {
    temps.push(t);
    return t;
  };
  const scalar = (v: number) => {
    const t = keep(ops.alloc([]));
    ops.values(t)[0] = v;
    return t;
  };
  const op = (name: string, a: TensorInfo, b: TensorInfo) => keep(ops.run(name, { a, b }, {}));
  const unary = (name: string, x: TensorInfo) => keep(ops.run(name, { x }, {}));
  const out = f(op, unary, scalar);
  for (const t of temps) if (t !== out) ops.dispose(t);
  return out;
}

/** `simd: false` runs the composition on the backend's kernels even where the loops could run. */
export interface GeluKernelOptions {
  simd?: boolean;
}

/** GELU: `y = x · (0.5 · (1 + erf(x / √2)))`, float32. */
export function makeGelu(
  backendName: KernelBackendName,
  _fallback?: KernelFunc,
  options: GeluKernelOptions = {},
): KernelFunc {
  return (args) => {
    const { x } = args.inputs as GeluInputs;
    checkFloat32(GELU, backendName, { x });
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const simd = options.simd === false ? null : (ops.simd?.() ?? null);
    if (simd == null || ops.address == null) {
      return composed(ops, (op, unary, scalar) => {
        const erf = unary("Erf", op("RealDiv", x, scalar(Math.SQRT2)));
        return op("Multiply", x, op("Multiply", scalar(0.5), op("Add", scalar(1), erf)));
      });
    }
    const out = ops.alloc(x.shape);
    const n = size(x.shape);
    if (n > 0) simdUnary(simd, "gelu", ops.address(out), ops.address(x), n);
    return out;
  };
}

/** GELU's gradient: `dy, x → dx`, the operations autodiff runs for the composition. */
export function makeGeluGrad(
  backendName: KernelBackendName,
  _fallback?: KernelFunc,
  options: GeluKernelOptions = {},
): KernelFunc {
  return (args) => {
    const { dy, x } = args.inputs as GeluGradInputs;
    checkFloat32(GELU_GRAD, backendName, { dy, x });
    if (dy.shape.join(",") !== x.shape.join(",")) {
      throw new BackendError(
        "unsupported_tensor",
        `${GELU_GRAD} on '${backendName}': dy [${dy.shape}] and x [${x.shape}] differ in shape`,
      );
    }
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const simd = options.simd === false ? null : (ops.simd?.() ?? null);
    if (simd == null || ops.address == null) {
      return composed(ops, (op, unary, scalar) => {
        const root2 = scalar(Math.SQRT2);
        const t = op("RealDiv", x, root2);
        const cdf = op("Multiply", scalar(0.5), op("Add", scalar(1), unary("Erf", t)));
        const density = unary("Exp", unary("Neg", unary("Square", t)));
        const dErf = op("Multiply", op("Multiply", dy, x), scalar(0.5));
        const dt = op("Multiply", dErf, op("Multiply", density, scalar(2 / Math.sqrt(Math.PI))));
        return op("Add", op("Multiply", dy, cdf), op("RealDiv", dt, root2));
      });
    }
    const out = ops.alloc(x.shape);
    const n = size(x.shape);
    if (n > 0) simdGeluGrad(simd, ops.address(out), ops.address(dy), ops.address(x), n);
    return out;
  };
}
