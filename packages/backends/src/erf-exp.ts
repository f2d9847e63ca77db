// Erf and Exp on wasm as WebAssembly SIMD loops (see wasm-simd.ts), four floats a step and shared
// with the helper thread. GELU (tfjs-layers' `gelu`: x·0.5·(1 + erf(x/√2))) runs one Erf per
// forward pass and one Exp per gradient (tfjs-core's Erf gradient is dy·2/√π·exp(-x²)), and
// fastResNet has seven GELUs: on wasm, whose own kernels call the C library's erff and expf one
// float at a time, they were 13% of a training step (Erf 98 ms, Exp 91 ms of 1,462, widths
// 32,128,128, batch 256).
//
// Each result is within 1 ulp of the float64 function rounded to float32, over the whole float
// range (NaN stays NaN, ±Infinity and overflow give 0, 1 or Infinity as they should, denormal
// results round once); scripts/fit-erf-exp.py fits the polynomials and checks a float32
// simulation of the loops, src/erf-exp.test.ts checks the loops themselves. Not registered on
// cpu: its Exp is Math.exp per float and its Erf the Abramowitz-Stegun approximation (1.5e-7
// absolute), the reference other packages' tests compare with, and cpu does not train fast
// enough for them to matter.
import type { KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type KernelBackendName, kernelOps } from "./kernel-ops.js";
import { simdUnary } from "./wasm-simd.js";

function makeSimdUnary(kernelName: "Erf" | "Exp", fn: "erf" | "exp") {
  return (backendName: KernelBackendName, fallback: KernelFunc | undefined): KernelFunc =>
    (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const ops = kernelOps(backendName, args.backend as KernelBackend);
      // Integer inputs, or a runtime without the SIMD loops: the backend's own kernel.
      const simd = x.dtype === "float32" ? (ops.simd?.() ?? null) : null;
      if (simd == null || ops.address == null) {
        if (fallback) return fallback(args);
        throw new BackendError(
          "missing_kernel",
          `${kernelName} on '${backendName}': expected a float32 input and the SIMD loops, or a kernel of the backend's own to fall back on`,
        );
      }
      const out = ops.alloc(x.shape);
      let n = 1;
      for (const d of x.shape) n *= d;
      if (n > 0) simdUnary(simd, fn, ops.address(out), ops.address(x), n);
      return out;
    };
}

/** Erf: erf(x) elementwise, float32. */
export const makeErf = makeSimdUnary("Erf", "erf");
/** Exp: e^x elementwise, float32. */
export const makeExp = makeSimdUnary("Exp", "exp");
