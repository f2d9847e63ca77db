import "@tensorflow/tfjs-backend-cpu";
import { ADAMW_UPDATE, L2_NORMS, SGD_UPDATE } from "@cnnkit/optim/kernel-names";
import {
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  GELU,
  GELU_GRAD,
} from "@cnnkit/resnet/kernel-names";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { RELU_GRAD } from "./kernel-names.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";

/** Kernels cpu has of its own (replaced there), the fused ones no backend has, wasm-only ones. */
const NAMES = [
  "Conv2DBackpropFilter",
  "Conv2DBackpropInput",
  "Tile",
  "Sum",
  "Mean",
  "Slice",
  "MaxPoolGrad",
] as const;
const FUSED = [
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  RELU_GRAD,
  ADAMW_UPDATE,
  SGD_UPDATE,
  L2_NORMS,
] as const;
const WASM_ONLY = ["Identity", "Cast", "Erf", "Exp", GELU, GELU_GRAD, "FusedBatchNorm"] as const;
const sorted = (a: readonly string[]) => [...a].sort();

describe("registerTrainingKernels", () => {
  it("adds the wasm kernels, replaces cpu's, and is idempotent and reversible", () => {
    const cpuOriginals = NAMES.map((n) => tf.getKernel(n, "cpu")?.kernelFunc);
    const cpuShared = WASM_ONLY.map((n) => tf.getKernel(n, "cpu")?.kernelFunc);
    expect(cpuOriginals.every((f) => typeof f === "function")).toBe(true);
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeUndefined();

    const first = registerTrainingKernels();
    // The wasm package is not imported in this file, so it has none of these kernels yet.
    expect(sorted(first.added)).toEqual(
      sorted([
        ...FUSED.map((n) => `${n}@cpu`),
        ...[...NAMES, ...FUSED, ...WASM_ONLY].map((n) => `${n}@wasm`),
      ]),
    );
    expect(sorted(first.replaced)).toEqual(sorted(NAMES.map((n) => `${n}@cpu`)));
    // cpu's Identity and Cast already share memory: left alone.
    expect(WASM_ONLY.map((n) => tf.getKernel(n, "cpu")?.kernelFunc)).toEqual(cpuShared);
    expect(tf.getKernel(BATCH_NORM_TRAINING, "cpu")).toBeDefined();
    expect(first.unchanged).toEqual([]);
    const installed = NAMES.map((n) => tf.getKernel(n, "cpu")?.kernelFunc);
    expect(installed).not.toEqual(cpuOriginals);

    const second = registerTrainingKernels();
    expect(second.added).toEqual([]);
    expect(second.replaced).toEqual([]);
    expect(second.unchanged).toHaveLength(2 * (NAMES.length + FUSED.length) + WASM_ONLY.length);
    expect(NAMES.map((n) => tf.getKernel(n, "cpu")?.kernelFunc)).toEqual(installed);

    unregisterTrainingKernels();
    expect(NAMES.map((n) => tf.getKernel(n, "cpu")?.kernelFunc)).toEqual(cpuOriginals);
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeUndefined();
    expect(tf.getKernel("Identity", "wasm")).toBeUndefined();
    expect(tf.getKernel(BATCH_NORM_TRAINING, "cpu")).toBeUndefined();
    unregisterTrainingKernels(); // a second call is harmless too
    expect(NAMES.map((n) => tf.getKernel(n, "cpu")?.kernelFunc)).toEqual(cpuOriginals);
  });
});
