import "@tensorflow/tfjs-backend-cpu";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, describe, expect, it } from "vitest";
import { BackendError } from "./errors.js";
import { glibcMallocAdvice } from "./malloc-tunables.js";
import { onnxRuntimeKernelsActive, unregisterOnnxRuntimeKernels } from "./onnxruntime/register.js";
import { unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

afterEach(() => {
  unregisterOnnxRuntimeKernels(); // first: they sit on top of the training kernels
  unregisterTrainingKernels();
});

describe("useBackend", () => {
  it("'auto' skips the native packages that are not installed, in one line each, and lands on wasm", async () => {
    const chosen = await useBackend("auto", { threads: 2 });
    expect(chosen.backend).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    // Two threads even in Node, where tfjs itself would start one (see wasm-threads.ts), and the
    // convolutions on onnxruntime-node (a devDependency here).
    expect(chosen.reason).toMatch(
      /^@tensorflow\/tfjs-backend-wasm: WebAssembly \+ SIMD, 2 threads; convolutions on onnxruntime-node 1\.\d+\.\d+ \(2 threads\)$/,
    );
    expect(chosen.onnxruntime?.kernels).toContain("Conv2DBackpropFilter@wasm");
    expect(chosen.tried.map((t) => [t.choice, t.ok])).toEqual([
      ["tensorflow-gpu", false],
      ["tensorflow", false],
      ["webgpu", false],
      ["wasm", true],
    ]);
    expect(chosen.tried[0]?.reason).toBe("@tensorflow/tfjs-node-gpu: not installed");
    expect(chosen.tried[1]?.reason).toBe("@tensorflow/tfjs-node: not installed");
    // Dawn (a devDependency here) finds no GPU on a machine without one; at most a software adapter.
    expect(chosen.tried[2]?.reason).toMatch(
      /^WebGPU: (only a software adapter|.* offers no adapter)/,
    );
    // It registered the training kernels, so the wasm backend can now take conv gradients.
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeDefined();
    // With ONNX Runtime's kernels active, the malloc advice for this process (if any) is a tip.
    const advice = glibcMallocAdvice();
    expect(chosen.tips).toEqual(advice ? [advice] : []);
  });

  it("reports a native library that fails to load as its first line, not a stack trace", async () => {
    const importModule = async (name: string) => {
      if (name.startsWith("@tensorflow/tfjs-node")) {
        throw new Error(
          "libtensorflow.so.2: cannot open shared object file: No such file or directory\n    at Module._extensions",
        );
      }
      return import(name);
    };
    const chosen = await useBackend("auto", { importModule, trainingKernels: false });
    expect(chosen.tried[0]?.reason).toBe(
      "@tensorflow/tfjs-node-gpu: libtensorflow.so.2: cannot open shared object file: No such file or directory",
    );
    expect(chosen.tried.every((t) => !t.reason.includes("\n"))).toBe(true);
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeUndefined();
  });

  it("says in one line why the convolutions are not on onnxruntime-node, or throws when required", async () => {
    const loadOnnxRuntime = () => {
      throw new BackendError("onnxruntime_unavailable", "onnxruntime-node: not installed");
    };
    const chosen = await useBackend("cpu", { loadOnnxRuntime });
    expect(chosen.reason).toBe(
      "@tensorflow/tfjs-backend-cpu: plain JavaScript (slowest); onnxruntime-node: not installed (convolutions on cpu)",
    );
    expect(chosen.onnxruntime).toBeNull();
    expect(onnxRuntimeKernelsActive()).toBeNull();
    await expect(useBackend("cpu", { loadOnnxRuntime, onnxruntime: true })).rejects.toThrow(
      /^onnxruntime-node: not installed$/,
    );
  });

  it("says so when tfjs-node-gpu loads but TensorFlow runs on the CPU (wrong CUDA/cuDNN)", async () => {
    // Stands in for tfjs-node-gpu: registers a 'tensorflow' backend that reports no GPU device.
    const importModule = async (name: string) => {
      if (name === "@tensorflow/tfjs-node-gpu") {
        tf.registerBackend("tensorflow", () =>
          Object.assign(new MathBackendCPU(), { isUsingGpuDevice: false }),
        );
        return {};
      }
      throw new Error(`unexpected import of ${name}`);
    };
    try {
      const chosen = await useBackend("tensorflow-gpu", { importModule, trainingKernels: false });
      expect(chosen.backend).toBe("tensorflow");
      expect(chosen.reason).toContain("found no usable GPU");
      expect(chosen.reason).toContain("CUDA 11.2 + cuDNN 8.1");
    } finally {
      await tf.setBackend("cpu");
      tf.removeBackend("tensorflow");
    }
  });

  it("throws one clear line when an explicitly chosen backend cannot load", async () => {
    const err = await useBackend("tensorflow").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).code).toBe("backend_unavailable");
    expect((err as BackendError).message).toBe(
      "useBackend('tensorflow'): @tensorflow/tfjs-node: not installed",
    );
  });

  it("rejects a thread count that is not a positive integer", async () => {
    const err = await useBackend("wasm", { threads: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).message).toBe(
      "useBackend: expected options.threads to be a positive integer, got 0",
    );
  });

  it("rejects an unknown choice, naming the valid ones", async () => {
    const err = await useBackend("webgl" as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).code).toBe("invalid_option");
    expect((err as BackendError).message).toContain('got "webgl"');
    expect((err as BackendError).message).toContain("webgpu");
  });

  it("'cpu' activates the cpu backend", async () => {
    const chosen = await useBackend("cpu");
    expect(chosen).toMatchObject({ backend: "cpu", tried: [{ choice: "cpu", ok: true }] });
  });

  it("uses a backend the page registered itself when import(name) cannot resolve (a bundle)", async () => {
    // As in a browser bundle: the page imported the backend package; a bare import() fails.
    const importModule = async (name: string) => {
      throw new TypeError(`Failed to resolve module specifier "${name}"`);
    };
    const chosen = await useBackend("cpu", { importModule, onnxruntime: false });
    expect(chosen).toMatchObject({ backend: "cpu", tried: [{ choice: "cpu", ok: true }] });
    expect(chosen.tips).toEqual([]); // no ONNX Runtime outputs, nothing for malloc to keep

    const none = await useBackend("tensorflow", { importModule }).catch((e: unknown) => e);
    expect((none as BackendError).message).toBe(
      "useBackend('tensorflow'): @tensorflow/tfjs-node: Failed to resolve module specifier \"@tensorflow/tfjs-node\"",
    );
  });
});
