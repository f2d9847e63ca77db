// useBackend's WebGPU choice with stand-in adapters: which it takes, which it refuses, and what
// it says. The real adapters (SwiftShader in Chromium and in Node through Dawn) are checked in
// test/webgpu-browser.test.ts and test/webgpu-node.test.ts.
import "@tensorflow/tfjs-backend-cpu";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, describe, expect, it } from "vitest";
import { BackendError } from "./errors.js";
import { useBackend } from "./use-backend.js";
import { summarizeAdapter } from "./webgpu.js";

/** What adapters report (adapter.info), as seen on these renderers. */
const ADAPTERS = {
  // Dawn in Node on Chromium's SwiftShader Vulkan driver (measured here).
  dawnSwiftShader: {
    vendor: "google",
    architecture: "swiftshader",
    device: "swiftshader-device-subzero-",
    description: "SwiftShader driver 5.0.0",
    isFallbackAdapter: true,
  },
  // Chromium's own, with --enable-unsafe-swiftshader (measured here).
  chromiumSwiftShader: {
    vendor: "google",
    architecture: "swiftshader",
    device: "",
    description: "",
    isFallbackAdapter: true,
  },
  // Mesa's lavapipe through Vulkan: a CPU renderer that does not call itself a fallback.
  lavapipe: {
    vendor: "mesa",
    architecture: "",
    device: "",
    description: "llvmpipe (LLVM 15.0.6, 256 bits)",
    isFallbackAdapter: false,
  },
  nvidia: {
    vendor: "nvidia",
    architecture: "hopper",
    device: "",
    description: "NVIDIA H100 80GB HBM3",
    isFallbackAdapter: false,
  },
} as const;

const LIMITS = {
  maxBufferSize: 2 ** 32,
  maxStorageBufferBindingSize: 2 ** 31,
  maxComputeWorkgroupStorageSize: 32768,
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeWorkgroupSizeX: 1024,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxBindGroups: 4,
};

/** A stand-in for Dawn's `webgpu` module offering `info` (or no adapter), and what it was asked. */
function fakeDawn(info: Record<string, unknown> | null) {
  const asked: { adapterOptions: unknown[]; devices: unknown[] } = {
    adapterOptions: [],
    devices: [],
  };
  const gpu = {
    requestAdapter: async (options: unknown) => {
      asked.adapterOptions.push(options);
      if (!info) return null;
      return {
        info,
        limits: LIMITS,
        requestDevice: async (descriptor: unknown) => {
          asked.devices.push(descriptor);
          return { stands: "for a GPUDevice" };
        },
      };
    },
  };
  return { module: { create: () => gpu, globals: { GPUMapModeForTest: { READ: 1 } } }, asked };
}

/** tfjs-backend-webgpu's WebGPUBackend, standing in as a cpu backend that records its device. */
class FakeWebGPUBackend extends MathBackendCPU {
  static made: { device: unknown; info: unknown }[] = [];
  constructor(device: unknown, info: unknown) {
    super();
    FakeWebGPUBackend.made.push({ device, info });
  }
}

/** Loads the stand-ins; the native tfjs packages are "not installed". */
function importing(dawn: unknown) {
  return async (name: string): Promise<unknown> => {
    if (name === "webgpu") {
      if (dawn === null) throw Object.assign(new Error("nope"), { code: "ERR_MODULE_NOT_FOUND" });
      return dawn;
    }
    if (name === "@tensorflow/tfjs-backend-webgpu") return { WebGPUBackend: FakeWebGPUBackend };
    if (name.startsWith("@tensorflow/tfjs-node")) {
      throw Object.assign(new Error(`Cannot find package '${name}'`), {
        code: "ERR_MODULE_NOT_FOUND",
      });
    }
    return import(name);
  };
}

afterEach(async () => {
  await tf.setBackend("cpu");
  if (tf.findBackendFactory("webgpu") != null) tf.removeBackend("webgpu");
  const g = globalThis as Record<string, unknown>;
  delete g.navigator;
  delete g.GPUMapModeForTest;
  FakeWebGPUBackend.made = [];
});

describe("summarizeAdapter", () => {
  it("tells software renderers from GPUs by the fallback flag and by name", () => {
    expect(summarizeAdapter({ info: ADAPTERS.dawnSwiftShader })).toEqual({
      name: "google swiftshader SwiftShader driver 5.0.0",
      software: "swiftshader renders on the CPU",
    });
    expect(summarizeAdapter({ info: ADAPTERS.chromiumSwiftShader }).software).toBe(
      "swiftshader renders on the CPU",
    );
    expect(summarizeAdapter({ info: ADAPTERS.lavapipe })).toEqual({
      name: "mesa llvmpipe (LLVM 15.0.6, 256 bits)",
      software: "llvmpipe renders on the CPU",
    });
    // A fallback adapter whose name says nothing, flagged on the adapter (older browsers).
    expect(summarizeAdapter({ info: { vendor: "acme" }, isFallbackAdapter: true }).software).toBe(
      "a fallback adapter (the browser's software renderer)",
    );
    expect(summarizeAdapter({ info: ADAPTERS.nvidia })).toEqual({
      name: "nvidia hopper NVIDIA H100 80GB HBM3",
      software: null,
    });
    expect(summarizeAdapter({}).name).toBe("an unnamed adapter");
  });
});

describe("useBackend and WebGPU", () => {
  it("'auto' takes a real GPU adapter first after the native packages, and says so", async () => {
    const dawn = fakeDawn(ADAPTERS.nvidia);
    const chosen = await useBackend("auto", {
      importModule: importing(dawn.module),
      trainingKernels: false,
    });
    expect(chosen.backend).toBe("webgpu");
    expect(tf.getBackend()).toBe("webgpu");
    expect(chosen.reason).toBe(
      "@tensorflow/tfjs-backend-webgpu: WebGPU on GPU nvidia hopper NVIDIA H100 80GB HBM3, through Dawn (the webgpu package)",
    );
    expect(chosen.tried.map((t) => [t.choice, t.ok])).toEqual([
      ["tensorflow-gpu", false],
      ["tensorflow", false],
      ["webgpu", true],
    ]);
    // The backend runs on the adapter that was judged, with its large limits asked for.
    expect(dawn.asked.adapterOptions).toEqual([{ powerPreference: "high-performance" }]);
    expect(FakeWebGPUBackend.made).toEqual([
      { device: { stands: "for a GPUDevice" }, info: ADAPTERS.nvidia },
    ]);
    expect(dawn.asked.devices[0]).toEqual({
      requiredLimits: {
        maxBufferSize: LIMITS.maxBufferSize,
        maxStorageBufferBindingSize: LIMITS.maxStorageBufferBindingSize,
        maxComputeWorkgroupStorageSize: LIMITS.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension: LIMITS.maxComputeWorkgroupsPerDimension,
        maxComputeWorkgroupSizeX: LIMITS.maxComputeWorkgroupSizeX,
        maxComputeInvocationsPerWorkgroup: LIMITS.maxComputeInvocationsPerWorkgroup,
      },
    });
    // Dawn is exposed as a browser's WebGPU would be, for tfjs-backend-webgpu.
    const g = globalThis as { navigator?: { gpu?: unknown }; GPUMapModeForTest?: unknown };
    expect(g.navigator?.gpu).toBeDefined();
    expect(g.GPUMapModeForTest).toEqual({ READ: 1 });
  });

  it("'auto' never takes a software adapter, even when allowed; it says why and moves on", async () => {
    for (const info of [ADAPTERS.dawnSwiftShader, ADAPTERS.lavapipe]) {
      const chosen = await useBackend("auto", {
        importModule: importing(fakeDawn(info).module),
        trainingKernels: false,
        onnxruntime: false,
        allowSoftwareAdapter: true,
      });
      expect(chosen.backend).toBe("wasm");
      const webgpu = chosen.tried.find((t) => t.choice === "webgpu");
      expect(webgpu?.ok).toBe(false);
      expect(webgpu?.reason).toMatch(
        /^WebGPU: only a software adapter, .* renders on the CPU; not taken for speed\); useBackend\('webgpu', \{ allowSoftwareAdapter: true \}\) takes it anyway$/,
      );
    }
    expect(FakeWebGPUBackend.made).toEqual([]);
    expect((globalThis as { navigator?: unknown }).navigator).toBeUndefined();
  });

  it("'webgpu' takes a software adapter only with allowSoftwareAdapter", async () => {
    const { module } = fakeDawn(ADAPTERS.dawnSwiftShader);
    const refused = await useBackend("webgpu", { importModule: importing(module) }).catch(
      (e: unknown) => e,
    );
    expect(BackendError.isInstance(refused) && refused.code).toBe("backend_unavailable");
    expect((refused as Error).message).toBe(
      "useBackend('webgpu'): WebGPU: only a software adapter, google swiftshader SwiftShader driver 5.0.0 (swiftshader renders on the CPU; not taken for speed); useBackend('webgpu', { allowSoftwareAdapter: true }) takes it anyway",
    );
    const chosen = await useBackend("webgpu", {
      importModule: importing(module),
      allowSoftwareAdapter: true,
    });
    expect(chosen.backend).toBe("webgpu");
    expect(chosen.reason).toBe(
      "@tensorflow/tfjs-backend-webgpu: WebGPU on software adapter google swiftshader SwiftShader driver 5.0.0 (swiftshader renders on the CPU; allowSoftwareAdapter), through Dawn (the webgpu package)",
    );
  });

  it("says in one line when there is no adapter, or no Dawn in Node", async () => {
    const none = await useBackend("webgpu", {
      importModule: importing(fakeDawn(null).module),
    }).catch((e: unknown) => e);
    expect((none as Error).message).toBe(
      "useBackend('webgpu'): WebGPU: Dawn (the webgpu package) offers no adapter (Dawn uses Vulkan on Linux: is a Vulkan driver installed, libvulkan.so.1 and an ICD?)",
    );
    const missing = await useBackend("webgpu", { importModule: importing(null) }).catch(
      (e: unknown) => e,
    );
    expect((missing as Error).message).toBe(
      "useBackend('webgpu'): WebGPU: webgpu (Dawn, for WebGPU in Node): not installed",
    );
  });

  it("uses navigator.gpu where there is one (a browser), not Dawn", async () => {
    const { module } = fakeDawn(ADAPTERS.nvidia);
    (globalThis as { navigator?: unknown }).navigator = { gpu: module.create() };
    const chosen = await useBackend("webgpu", { importModule: importing(null) });
    expect(chosen.reason).toBe(
      "@tensorflow/tfjs-backend-webgpu: WebGPU on GPU nvidia hopper NVIDIA H100 80GB HBM3, through navigator.gpu",
    );
  });
});
