import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";

const NAMES = ["Conv2DBackpropFilter", "Conv2DBackpropInput", "Tile"] as const;

describe("registerTrainingKernels", () => {
  it("adds the wasm kernels, replaces cpu's, and is idempotent and reversible", () => {
    const cpuOriginals = NAMES.map((n) => tf.getKernel(n, "cpu")?.kernelFunc);
    expect(cpuOriginals.every((f) => typeof f === "function")).toBe(true);
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeUndefined();

    const first = registerTrainingKernels();
    // The wasm package (with its slow Conv2DBackpropInput) is not imported in this file.
    expect(first.added).toEqual([
      "Conv2DBackpropFilter@wasm",
      "Conv2DBackpropInput@wasm",
      "Tile@wasm",
    ]);
    expect(first.replaced).toEqual([
      "Conv2DBackpropFilter@cpu",
      "Conv2DBackpropInput@cpu",
      "Tile@cpu",
    ]);
    expect(first.unchanged).toEqual([]);
    const installed = NAMES.map((n) => tf.getKernel(n, "cpu")?.kernelFunc);
    expect(installed).not.toEqual(cpuOriginals);

    const second = registerTrainingKernels();
    expect(second.added).toEqual([]);
    expect(second.replaced).toEqual([]);
    expect(second.unchanged).toHaveLength(6);
    expect(NAMES.map((n) => tf.getKernel(n, "cpu")?.kernelFunc)).toEqual(installed);

    unregisterTrainingKernels();
    expect(NAMES.map((n) => tf.getKernel(n, "cpu")?.kernelFunc)).toEqual(cpuOriginals);
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeUndefined();
    unregisterTrainingKernels(); // a second call is harmless too
    expect(NAMES.map((n) => tf.getKernel(n, "cpu")?.kernelFunc)).toEqual(cpuOriginals);
  });
});
