// Convolutions on ONNX Runtime's CPU kernels, for the wasm and cpu backends.
//
// Why: convolutions are ~80% of a training step on wasm, and tfjs-wasm's are bound by 128-bit
// WebAssembly SIMD without FMA (XNNPACK). `onnxruntime-node` ships a native CPU build (MLAS: AVX2/AVX-512 FMA
// GEMMs, its own thread pool) in its npm package, so, where it is installed, the four
// convolution kernels of a training step (Conv2D, FusedConv2D, Conv2DBackpropInput,
// Conv2DBackpropFilter) run there: each call runs a tiny cached ONNX graph directly on the
// tensors' memory (wasm heap or cpu arrays), writing its result straight into the tfjs output.
// The rest of the step (BatchNorm, ReLU, adds, the optimizer) stays on the tfjs backend.
//
// This file registers them. Beside it: load.ts finds the package, probe-block-size.ts asks it
// for its blocked layout, one file per kernel (conv2d.ts, fused-conv2d.ts,
// conv2d-backprop-input.ts, conv2d-backprop-filter.ts) with the graph it runs, the graphs' parts
// (geometry.ts, blocked-conv.ts, forward-graph.ts, onnx-model.ts: the protobuf writer), and
// session-cache.ts and run-graph.ts, which compile and run them on the tensors' memory.
import {
  getKernel,
  type KernelConfig,
  registerKernel,
  unregisterKernel,
} from "@tensorflow/tfjs-core";
import { BackendError } from "../errors.js";
import type { KernelBackendName } from "../kernel-ops.js";
import { availableThreads } from "../node-only.js";
import { makeConv2D } from "./conv2d.js";
import { makeConv2DBackpropFilter } from "./conv2d-backprop-filter.js";
import { makeConv2DBackpropInput } from "./conv2d-backprop-input.js";
import { makeFusedConv2D } from "./fused-conv2d.js";
import type { KernelFactory } from "./kernel-factory.js";
import { loadOnnxRuntime, type OnnxRuntimeModule } from "./load.js";
import { probeBlockSize } from "./probe-block-size.js";
import { releaseScratch } from "./run-graph.js";
import { activeRuntime, DEFAULT_MIN_CHANNELS, setActiveRuntime } from "./runtime.js";

/** The kernels this module replaces, on each of the `cpu` and `wasm` backends. */
export const ONNXRUNTIME_KERNELS = [
  "Conv2D",
  "FusedConv2D",
  "Conv2DBackpropInput",
  "Conv2DBackpropFilter",
] as const;

export interface OnnxRuntimeKernelsOptions {
  /** ONNX Runtime's intra-op threads. Defaults to `os.availableParallelism()`. */
  threads?: number;
  /**
   * On wasm, the forward and input-gradient convolutions go to ONNX Runtime only when the filter
   * is larger than 1x1 and both channel counts are at least this; smaller ones stay on wasm,
   * which is as fast for them (strided 1x1: faster; `pnpm bench:kernels`). The filter gradient,
   * and every convolution on cpu, always go. Default 16: fastResNet's 24-channel convolutions
   * then run on ONNX Runtime (whole steps 1.15x against 32, `pnpm bench:route-ab`); the tiny and
   * narrow nets' 16-channel ones measured even either way.
   */
  minChannels?: number;
  /**
   * Whether each cached ONNX Runtime session keeps its intermediate buffers between runs (ORT's
   * CPU memory arena). On: faster, since a graph's padded, transposed and sliced copies of large
   * activations are not taken fresh from the OS and page-faulted in on every call (fastResNet
   * 24/96/96 at batch 1,024: filter gradients 1.4-1.6x, the training step 1.13x; SmallResNet at
   * batch 64: the step ~1.05x), at the price of holding each session's peak (process RSS 3.0 GiB
   * instead of 2.2, and 2.0 instead of 1.5). Off: the smallest footprint. Defaults to true.
   */
  memoryArena?: boolean;
  /** Loads `onnxruntime-node`; replaceable for tests and bundlers. */
  load?: () => OnnxRuntimeModule;
}

/** What `registerOnnxRuntimeKernels()` did. */
export interface OnnxRuntimeKernelsReport {
  /** The `onnxruntime-node` version now running the convolutions. */
  readonly version: string;
  readonly threads: number;
  /** `"KernelName@backend"` for each kernel now on ONNX Runtime. */
  readonly kernels: readonly string[];
}

const BACKENDS: readonly KernelBackendName[] = ["cpu", "wasm"];
const MARK = Symbol.for("@cnnkit/backends/onnxruntime-kernel");
const originals = new Map<string, KernelConfig | undefined>();

/** True for a kernel registered by this module (so other registrars leave it in place). */
export function isOnnxRuntimeKernel(config: KernelConfig | undefined): boolean {
  return config != null && (config as unknown as Record<symbol, unknown>)[MARK] === true;
}

const FACTORIES: Record<(typeof ONNXRUNTIME_KERNELS)[number], KernelFactory> = {
  Conv2D: makeConv2D,
  FusedConv2D: makeFusedConv2D,
  Conv2DBackpropInput: makeConv2DBackpropInput,
  Conv2DBackpropFilter: makeConv2DBackpropFilter,
};

/**
 * Runs the convolutions of the `cpu` and `wasm` backends (forward, fused forward with bias and
 * ReLU, and both gradients) on ONNX Runtime's native CPU kernels, when `onnxruntime-node` is
 * installed. Anything these graphs do not cover (NCHW, non-float, other fused activations,
 * paddings the gradient graphs cannot express) runs on the kernel registered before, kept and
 * restored by `unregisterOnnxRuntimeKernels()`. Register after `registerTrainingKernels()` (whose
 * gradient kernels become the fallbacks); calling it again does nothing.
 *
 * @throws BackendError `onnxruntime_unavailable`, with one line saying why, when the package
 *   cannot be loaded; nothing is registered then.
 */
export function registerOnnxRuntimeKernels(
  options: OnnxRuntimeKernelsOptions = {},
): OnnxRuntimeKernelsReport {
  const threads = options.threads ?? availableThreads();
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new BackendError(
      "invalid_option",
      `registerOnnxRuntimeKernels: expected options.threads to be a positive integer, got ${threads}`,
    );
  }
  const minChannels = options.minChannels ?? DEFAULT_MIN_CHANNELS;
  if (!Number.isSafeInteger(minChannels) || minChannels < 1) {
    throw new BackendError(
      "invalid_option",
      `registerOnnxRuntimeKernels: expected options.minChannels to be a positive integer, got ${minChannels}`,
    );
  }
  const memoryArena = options.memoryArena ?? true;
  if (typeof memoryArena !== "boolean") {
    throw new BackendError(
      "invalid_option",
      `registerOnnxRuntimeKernels: expected options.memoryArena to be a boolean, got ${JSON.stringify(memoryArena)}`,
    );
  }
  let active = activeRuntime();
  if (active == null) {
    const ort = (options.load ?? loadOnnxRuntime)();
    active = {
      ort,
      threads,
      minChannels,
      blockSize: probeBlockSize(ort),
      memoryArena,
      sessions: new Map(),
    };
    setActiveRuntime(active);
  }
  const kernels: string[] = [];
  for (const backendName of BACKENDS) {
    for (const kernelName of ONNXRUNTIME_KERNELS) {
      const key = `${kernelName}@${backendName}`;
      kernels.push(key);
      const existing = getKernel(kernelName, backendName);
      if (isOnnxRuntimeKernel(existing)) continue;
      if (existing == null) {
        // The backend package is not imported: nothing to fall back to, so nothing to replace.
        kernels.pop();
        continue;
      }
      unregisterKernel(kernelName, backendName);
      originals.set(key, existing);
      const config: KernelConfig = {
        kernelName,
        backendName,
        kernelFunc: FACTORIES[kernelName](backendName, existing.kernelFunc),
      };
      Object.defineProperty(config, MARK, { value: true });
      registerKernel(config);
    }
  }
  return { version: active.ort.version, threads: active.threads, kernels };
}

/** The running ONNX Runtime kernels' version and threads, or `null` when none are registered. */
export function onnxRuntimeKernelsActive(): {
  version: string;
  threads: number;
  minChannels: number;
  /** MLAS's NCHWc block size (8 with AVX2, 16 with AVX-512F), 0 when unavailable. */
  blockSize: number;
  memoryArena: boolean;
} | null {
  const active = activeRuntime();
  return (
    active && {
      version: active.ort.version,
      threads: active.threads,
      minChannels: active.minChannels,
      blockSize: active.blockSize,
      memoryArena: active.memoryArena,
    }
  );
}

/** Restores the kernels `registerOnnxRuntimeKernels()` replaced and releases its sessions. */
export function unregisterOnnxRuntimeKernels(): void {
  for (const backendName of BACKENDS) {
    for (const kernelName of ONNXRUNTIME_KERNELS) {
      const key = `${kernelName}@${backendName}`;
      if (!isOnnxRuntimeKernel(getKernel(kernelName, backendName))) continue;
      unregisterKernel(kernelName, backendName);
      const original = originals.get(key);
      if (original) registerKernel(original);
      originals.delete(key);
    }
  }
  const active = activeRuntime();
  if (active) {
    for (const c of active.sessions.values()) c.session.dispose?.();
    setActiveRuntime(null);
  }
  releaseScratch();
}
