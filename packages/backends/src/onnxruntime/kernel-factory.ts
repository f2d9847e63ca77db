// What the four ONNX Runtime kernels share: how each is made, and when a convolution goes there.
import type { backend_util, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import type { KernelBackendName } from "../kernel-ops.js";
import { activeRuntime, DEFAULT_MIN_CHANNELS } from "./runtime.js";

/** Makes a kernel for `backendName`; `fallback`, the kernel it replaces, runs where it cannot. */
export type KernelFactory = (backendName: KernelBackendName, fallback: KernelFunc) => KernelFunc;

export const allFloat = (...infos: (TensorInfo | undefined)[]) =>
  infos.every((t) => t == null || t.dtype === "float32");

/** A graph key's part for one tensor's shape. */
export const shapeKey = (t: TensorInfo) => t.shape.join("x");

/**
 * Whether a forward or input-gradient convolution should run on ONNX Runtime: always on cpu; on
 * wasm only for filters larger than 1x1 with at least `minChannels` channels each way (default
 * 16). Smaller ones are about as fast on XNNPACK-wasm (`bench:kernels`: either wins by a few
 * tenths of a ms per shape, and whole training steps of the tiny and narrow nets measured the
 * same with minChannels 8, 16 and 32); strided 1x1 convolutions are 2-3x faster there.
 * fastResNet's 24-channel convolutions train 1.15x faster on ONNX Runtime once their 94 MB
 * outputs are written in runs (run-graph.ts), so the default moved from 32 to 16.
 */
export function worthIt(backendName: KernelBackendName, info: backend_util.Conv2DInfo): boolean {
  if (backendName === "cpu") return true;
  const min = activeRuntime()?.minChannels ?? DEFAULT_MIN_CHANNELS;
  return (
    info.filterHeight * info.filterWidth > 1 && Math.min(info.inChannels, info.outChannels) >= min
  );
}
