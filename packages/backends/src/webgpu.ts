// WebGPU for useBackend: finds an adapter (the page's navigator.gpu, or Dawn's `webgpu` package in
// Node), tells a real GPU from a software one, and starts tfjs-backend-webgpu on that adapter.
import * as tf from "@tensorflow/tfjs-core";
import { nodeProcess } from "./node-only.js";
import { oneLine } from "./one-line.js";

// The few WebGPU types used here, structurally: the package does not depend on @webgpu/types.
interface GpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapter {
  readonly info?: GpuAdapterInfo;
  readonly isFallbackAdapter?: boolean;
  readonly limits: Record<string, number>;
  requestDevice(descriptor?: { requiredLimits?: Record<string, number> }): Promise<unknown>;
}
interface Gpu {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapter | null>;
}
interface DawnModule {
  create(flags: string[]): Gpu;
  globals: Record<string, unknown>;
}

/** What a WebGPU adapter is, in the words `useBackend`'s `reason` uses. */
export interface WebGPUAdapterSummary {
  /** Vendor, architecture and device or description, as the adapter reports them. */
  readonly name: string;
  /**
   * Why this adapter is software (SwiftShader, lavapipe, llvmpipe, WARP, Dawn's null backend,
   * or any adapter the browser flags as a fallback), or `null` for a real GPU.
   */
  readonly software: string | null;
}

// Renderers that run on the CPU. A fallback adapter says so itself (isFallbackAdapter); Dawn's
// Vulkan one in Node reports SwiftShader that way, but lavapipe and llvmpipe only by name.
const SOFTWARE_NAMES =
  /swiftshader|lavapipe|llvmpipe|softpipe|microsoft basic render|\bwarp\b|null-backend/i;

/** Names `adapter` and says whether it is software; see {@link WebGPUAdapterSummary}. */
export function summarizeAdapter(adapter: {
  info?: GpuAdapterInfo;
  isFallbackAdapter?: boolean;
}): WebGPUAdapterSummary {
  const info = adapter.info ?? {};
  const words = [info.vendor, info.architecture, info.description || info.device]
    .map((w) => (w ?? "").trim())
    .filter((w) => w !== "");
  const name = words.length > 0 ? words.join(" ") : "an unnamed adapter";
  const byName = SOFTWARE_NAMES.exec(words.join(" "));
  const fallback = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true;
  const software = byName
    ? `${byName[0]} renders on the CPU`
    : fallback
      ? "a fallback adapter (the browser's software renderer)"
      : null;
  return { name, software };
}

export interface WebGPUOptions {
  allowSoftwareAdapter: boolean;
  importModule: (name: string) => Promise<unknown>;
}

type Outcome = { ok: true; reason: string } | { ok: false; reason: string };

const PKG = "@tensorflow/tfjs-backend-webgpu";

const DAWN = "Dawn (the webgpu package)";

// One Dawn instance per module (a second `create` would load the drivers again), and the
// instances this file exposed as navigator.gpu, so that `reason` still names Dawn later.
const dawnInstances = new WeakMap<object, Gpu>();
const exposedDawn = new WeakSet<Gpu>();

/** `navigator.gpu` where there is one; in Node, Dawn's, with WebGPU's global constants installed. */
async function findGpu(
  opts: WebGPUOptions,
): Promise<
  { gpu: Gpu; via: string; globals?: Record<string, unknown> } | { gpu: null; why: string }
> {
  const nav = (globalThis as { navigator?: { gpu?: Gpu } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, via: exposedDawn.has(nav.gpu) ? DAWN : "navigator.gpu" };
  if (!nodeProcess()) {
    return {
      gpu: null,
      why: "navigator.gpu: not available (the browser has no WebGPU, or the page is not a secure context)",
    };
  }
  try {
    const mod = (await opts.importModule("webgpu")) as DawnModule & { default?: DawnModule };
    const dawn = mod.default ?? mod;
    let gpu = dawnInstances.get(dawn);
    if (!gpu) {
      gpu = dawn.create([]);
      dawnInstances.set(dawn, gpu);
    }
    return { gpu, via: DAWN, globals: dawn.globals };
  } catch (err) {
    return { gpu: null, why: `webgpu (Dawn, for WebGPU in Node): ${oneLine(err)}` };
  }
}

/**
 * Starts tfjs-backend-webgpu on the adapter `navigator.gpu` (or Dawn's, in Node) offers for
 * high performance (low power where tfjs's `WEBGPU_USE_LOW_POWER_GPU` flag is set). A software
 * adapter (a GPU emulated on the CPU) is refused unless `allowSoftwareAdapter`.
 */
export async function tryWebGPU(opts: WebGPUOptions): Promise<Outcome> {
  const found = await findGpu(opts);
  if (found.gpu === null) return { ok: false, reason: `WebGPU: ${found.why}` };
  // Registered by tfjs-backend-webgpu, so only set where the page or script imported it already.
  const lowPower = tf.env().getFlags().WEBGPU_USE_LOW_POWER_GPU === true;
  let adapter: GpuAdapter | null;
  try {
    adapter = await found.gpu.requestAdapter({
      powerPreference: lowPower ? "low-power" : "high-performance",
    });
  } catch (err) {
    return { ok: false, reason: `WebGPU: requestAdapter failed: ${oneLine(err)}` };
  }
  if (!adapter) {
    const hint = nodeProcess()
      ? " (Dawn uses Vulkan on Linux: is a Vulkan driver installed, libvulkan.so.1 and an ICD?)"
      : "";
    return { ok: false, reason: `WebGPU: ${found.via} offers no adapter${hint}` };
  }
  const { name, software } = summarizeAdapter(adapter);
  if (software && !opts.allowSoftwareAdapter) {
    return {
      ok: false,
      reason: `WebGPU: only a software adapter, ${name} (${software}; not taken for speed); useBackend('webgpu', { allowSoftwareAdapter: true }) takes it anyway`,
    };
  }
  const registry = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  if (registry.webgpu == null) {
    // Import the package, for its kernels; then start the backend on this adapter (tfjs's own
    // factory would ask for one again, and registers none where navigator.gpu was missing when
    // it was imported, as in Node). A page that bundled the package itself, where import() of a
    // bare name fails, keeps tfjs's factory: it asks for an adapter as above.
    type WebGPUModule = {
      WebGPUBackend?: new (device: unknown, info?: unknown) => tf.KernelBackend;
      default?: WebGPUModule;
    };
    let mod: WebGPUModule | undefined;
    try {
      mod = (await opts.importModule(PKG)) as WebGPUModule;
    } catch (err) {
      if (tf.findBackendFactory("webgpu") == null)
        return { ok: false, reason: `${PKG}: ${oneLine(err)}` };
    }
    const WebGPUBackend = mod?.WebGPUBackend ?? mod?.default?.WebGPUBackend;
    if (WebGPUBackend) {
      if (tf.findBackendFactory("webgpu") != null) tf.removeBackend("webgpu");
      tf.registerBackend(
        "webgpu",
        async () =>
          new WebGPUBackend(await adapter.requestDevice(deviceLimits(adapter)), adapter.info),
        3,
      );
    } else if (tf.findBackendFactory("webgpu") == null) {
      return { ok: false, reason: `${PKG}: loaded, but it exports no WebGPUBackend` };
    }
  }
  if (found.globals) exposeDawn(found.gpu, found.globals);
  if (!(await tf.setBackend("webgpu"))) {
    return { ok: false, reason: `${PKG}: the backend failed to initialise on ${name}` };
  }
  const kind = software
    ? `software adapter ${name} (${software}; allowSoftwareAdapter)`
    : `GPU ${name}`;
  return { ok: true, reason: `${PKG}: WebGPU on ${kind}, through ${found.via}` };
}

/**
 * In Node, makes Dawn look like a browser's WebGPU to tfjs-backend-webgpu: its backend checks
 * navigator.gpu, and its shaders' buffers name GPUBufferUsage, GPUMapMode, ... as globals.
 */
function exposeDawn(gpu: Gpu, globals: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(globals)) {
    if (!(key in globalThis)) {
      Object.defineProperty(globalThis, key, { value, configurable: true, writable: true });
    }
  }
  const g = globalThis as { navigator?: { gpu?: Gpu } };
  if (g.navigator?.gpu) return;
  exposedDawn.add(gpu);
  if (g.navigator) Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true });
  else
    Object.defineProperty(g, "navigator", { value: { gpu }, configurable: true, writable: true });
}

/**
 * The device asks for the adapter's own limits where the defaults are small for training: a
 * batch of activations outgrows the default 128 MiB storage binding, and tfjs's shaders size
 * their workgroups from these.
 */
function deviceLimits(adapter: GpuAdapter): { requiredLimits: Record<string, number> } {
  const keys = [
    "maxBufferSize",
    "maxStorageBufferBindingSize",
    "maxComputeWorkgroupStorageSize",
    "maxComputeWorkgroupsPerDimension",
    "maxComputeWorkgroupSizeX",
    "maxComputeInvocationsPerWorkgroup",
  ];
  const requiredLimits: Record<string, number> = {};
  for (const key of keys) {
    const value = adapter.limits[key];
    if (typeof value === "number") requiredLimits[key] = value;
  }
  return { requiredLimits };
}
