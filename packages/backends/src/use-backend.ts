// Chooses and activates a tfjs backend: the fastest one that really works on this machine.
import * as tf from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { glibcMallocAdvice } from "./malloc-tunables.js";
import { availableThreads, nodeProcess } from "./node-only.js";
import { oneLine } from "./one-line.js";
import { loadOnnxRuntime, type OnnxRuntimeModule } from "./onnxruntime/load.js";
import {
  type OnnxRuntimeKernelsReport,
  registerOnnxRuntimeKernels,
  unregisterOnnxRuntimeKernels,
} from "./onnxruntime/register.js";
import { registerTrainingKernels } from "./register-training-kernels.js";
import { initWasmWithThreads } from "./wasm-threads.js";
import { tryWebGPU } from "./webgpu.js";

/** A backend to ask for; `'auto'` tries them fastest first. */
export type BackendChoice = "auto" | "tensorflow-gpu" | "tensorflow" | "webgpu" | "wasm" | "cpu";

/** One backend `useBackend` tried, with the one line saying why it was or was not taken. */
export interface BackendAttempt {
  readonly choice: Exclude<BackendChoice, "auto">;
  readonly ok: boolean;
  readonly reason: string;
}

/** What `useBackend` chose and why. */
export interface BackendSelection {
  /** The tfjs backend name now active: `'tensorflow'`, `'webgpu'`, `'wasm'` or `'cpu'`. */
  readonly backend: string;
  /** One line: why this backend (and what it runs on). */
  readonly reason: string;
  /** Every backend tried, in order, the chosen one last. */
  readonly tried: readonly BackendAttempt[];
  /** The ONNX Runtime convolutions now in use (wasm and cpu only), or `null`. */
  readonly onnxruntime: OnnxRuntimeKernelsReport | null;
  /**
   * Lines worth showing the user about this process's speed, outside what `useBackend` can
   * change itself (so far: how to start Node with glibc's malloc tuned for ONNX Runtime's
   * outputs, `glibcMallocAdvice()`). Empty where there is nothing to say.
   */
  readonly tips: readonly string[];
}

export interface UseBackendOptions {
  /** Register the wasm/cpu training kernels (`registerTrainingKernels()`) after choosing. Defaults to `true`. */
  trainingKernels?: boolean;
  /**
   * Run the wasm/cpu convolutions on ONNX Runtime's native CPU kernels
   * (`registerOnnxRuntimeKernels()`): up to 2-4x faster per convolution than wasm's on AVX2
   * machines (SmallResNet trains 2x faster; small nets gain less). `'auto'` (the
   * default when `trainingKernels` is on) uses them when `onnxruntime-node` loads and says in
   * `reason` why not otherwise; `true` requires them (throws when they cannot load); `false`
   * (the default when `trainingKernels` is off) leaves the backend's own.
   */
  onnxruntime?: boolean | "auto";
  /**
   * Threads for the heavy kernels: ONNX Runtime's, and the `wasm` backend's convolutions and
   * matmuls (XNNPACK), through its multi-threaded build, which tfjs leaves off in Node and this
   * package bridges (with more than one, the SIMD passes of BatchNorm and ReLU's gradient also
   * share their work with one helper thread); `1` keeps the single-threaded build. Wasm's
   * threads take effect only when it is first initialised in the process (in Node; a browser
   * gets tfjs's own threaded build where the page is cross-origin isolated). Defaults to
   * `os.availableParallelism()` (`navigator.hardwareConcurrency` in a browser).
   */
  threads?: number;
  /**
   * Directory (or URL) holding the `.wasm` binaries, ending in `/`. Defaults to
   * `@tensorflow/tfjs-backend-wasm`'s `dist/` in Node; in a browser to tfjs's own default (beside
   * the page), or to what the page passed to `setWasmPaths` itself.
   */
  wasmPaths?: string;
  /**
   * Loads an optional package by name. Defaults to dynamic `import()`. Exposed so the fallback
   * chain can be exercised (and so bundlers that rewrite imports can supply their own). A backend
   * the page has registered already (`import "@tensorflow/tfjs-backend-wasm"` in a bundle, where
   * `import(name)` cannot resolve a bare name) is used when its import fails.
   */
  importModule?: (name: string) => Promise<unknown>;
  /** Loads `onnxruntime-node` (see `registerOnnxRuntimeKernels`); exposed for the same reasons. */
  loadOnnxRuntime?: () => OnnxRuntimeModule;
  /**
   * Let `useBackend('webgpu')` run on a software adapter (SwiftShader, lavapipe, llvmpipe, a
   * browser's fallback adapter): a GPU emulated on the CPU, for tests where there is no GPU.
   * `'auto'` never takes one, whatever this says. Defaults to `false`.
   */
  allowSoftwareAdapter?: boolean;
}

interface ResolvedOptions {
  trainingKernels: boolean;
  onnxruntime: boolean | "auto";
  threads: number;
  wasmPaths: string | undefined;
  importModule: (name: string) => Promise<unknown>;
  loadOnnxRuntime: () => OnnxRuntimeModule;
  allowSoftwareAdapter: boolean;
}

const CHOICES: readonly BackendChoice[] = [
  "auto",
  "tensorflow-gpu",
  "tensorflow",
  "webgpu",
  "wasm",
  "cpu",
];
const AUTO_ORDER = ["tensorflow-gpu", "tensorflow", "webgpu", "wasm", "cpu"] as const;

function resolveUseBackendOptions(options: UseBackendOptions): ResolvedOptions {
  const threads = options.threads ?? availableThreads();
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new BackendError(
      "invalid_option",
      `useBackend: expected options.threads to be a positive integer, got ${threads}`,
    );
  }
  const trainingKernels = options.trainingKernels ?? true;
  const onnxruntime = options.onnxruntime ?? (trainingKernels ? "auto" : false);
  if (onnxruntime !== true && onnxruntime !== false && onnxruntime !== "auto") {
    throw new BackendError(
      "invalid_option",
      `useBackend: expected options.onnxruntime to be true, false or 'auto', got ${JSON.stringify(onnxruntime)}`,
    );
  }
  return {
    trainingKernels,
    onnxruntime,
    threads,
    wasmPaths: options.wasmPaths,
    // A variable specifier keeps bundlers and tsc from resolving optional peers at build time.
    importModule: options.importModule ?? ((name: string) => import(name)),
    loadOnnxRuntime: options.loadOnnxRuntime ?? loadOnnxRuntime,
    allowSoftwareAdapter: options.allowSoftwareAdapter ?? false,
  };
}

type Outcome = { ok: true; reason: string } | { ok: false; reason: string };

async function tryNative(gpu: boolean, opts: ResolvedOptions): Promise<Outcome> {
  const pkg = gpu ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
  try {
    await opts.importModule(pkg);
  } catch (err) {
    return { ok: false, reason: `${pkg}: ${oneLine(err)}` };
  }
  if (!(await tf.setBackend("tensorflow"))) {
    return {
      ok: false,
      reason: `${pkg}: loaded, but the 'tensorflow' backend failed to initialise`,
    };
  }
  const usesGpu = (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
  if (gpu && !usesGpu) {
    // Both packages register 'tensorflow', so this one stays: it still trains, on the CPU.
    return {
      ok: true,
      reason: `${pkg}: loaded, but TensorFlow found no usable GPU (tfjs-node-gpu 4.x needs CUDA 11.2 + cuDNN 8.1); running on CPU`,
    };
  }
  return { ok: true, reason: `${pkg}: libtensorflow on ${usesGpu ? "GPU" : "CPU"}` };
}

/** Whether wasm is already initialised; not `tf.findBackend`, which would start initialising it. */
function wasmInitialised(): boolean {
  return (tf.engine() as unknown as { registry: Record<string, unknown> }).registry.wasm != null;
}

/** In Node, the package's own `dist/`; elsewhere undefined (tfjs's default, or the page's choice). */
function defaultWasmDir(): string | undefined {
  const proc = nodeProcess();
  if (!proc) return undefined;
  const require = proc.getBuiltinModule("node:module").createRequire(import.meta.url);
  const path = proc.getBuiltinModule("node:path");
  return `${path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm"))}${path.sep}`;
}

/**
 * Imports `pkg` for `backend`. Where the import fails but the backend is registered already (a
 * browser bundle that imported the package itself: `import(name)` cannot resolve a bare name
 * there), resolves to undefined instead of failing.
 */
async function importBackend(
  pkg: string,
  backend: string,
  opts: ResolvedOptions,
): Promise<{ ok: true; mod: unknown } | { ok: false; reason: string }> {
  try {
    return { ok: true, mod: await opts.importModule(pkg) };
  } catch (err) {
    if (tf.findBackendFactory(backend) != null) return { ok: true, mod: undefined };
    return { ok: false, reason: `${pkg}: ${oneLine(err)}` };
  }
}

async function tryWasm(opts: ResolvedOptions): Promise<Outcome> {
  const pkg = "@tensorflow/tfjs-backend-wasm";
  type WasmApi = { setWasmPaths?: (p: string) => void; getThreadsCount?: () => number };
  const imported = await importBackend(pkg, "wasm", opts);
  if (!imported.ok) return imported;
  const mod = (imported.mod ?? {}) as WasmApi & { default?: WasmApi };
  try {
    const setWasmPaths = mod.setWasmPaths ?? mod.default?.setWasmPaths;
    // In Node, tfjs looks for the .wasm files beside the calling script, not in its own package.
    // setWasmPaths may only be called before the backend first initialises.
    const dir = opts.wasmPaths ?? defaultWasmDir();
    if (!wasmInitialised() && dir !== undefined) {
      if (!setWasmPaths) {
        return {
          ok: false,
          reason: `${pkg}: options.wasmPaths needs the package's setWasmPaths, and importing it failed; call setWasmPaths("${dir}") from it yourself before useBackend`,
        };
      }
      setWasmPaths(dir);
    }
  } catch (err) {
    return { ok: false, reason: `${pkg}: cannot locate its .wasm files: ${oneLine(err)}` };
  }
  let note = "";
  if (
    nodeProcess() !== undefined &&
    !wasmInitialised() &&
    opts.threads > 1 &&
    (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"))
  ) {
    if (!(await initWasmWithThreads(mod, opts.threads))) {
      // The single-threaded build still works: fall back to it, and say why it is slower.
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
      note = ` (the ${opts.threads}-thread build failed to start)`;
    }
  }
  if (!(await tf.setBackend("wasm"))) {
    return { ok: false, reason: `${pkg}: the WebAssembly module failed to initialise` };
  }
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
  const threads = (mod.getThreadsCount ?? mod.default?.getThreadsCount)?.() ?? 1;
  const using = threads === 1 ? "one thread" : `${threads} threads`;
  return {
    ok: true,
    reason: `${pkg}: WebAssembly${simd ? " + SIMD" : " (no SIMD)"}, ${using}${note}`,
  };
}

async function tryCpu(opts: ResolvedOptions): Promise<Outcome> {
  const pkg = "@tensorflow/tfjs-backend-cpu";
  const imported = await importBackend(pkg, "cpu", opts);
  if (!imported.ok) return imported;
  if (!(await tf.setBackend("cpu")))
    return { ok: false, reason: `${pkg}: the backend failed to initialise` };
  return { ok: true, reason: `${pkg}: plain JavaScript (slowest)` };
}

function attempt(
  choice: Exclude<BackendChoice, "auto">,
  opts: ResolvedOptions,
  auto: boolean,
): Promise<Outcome> {
  switch (choice) {
    case "tensorflow-gpu":
      return tryNative(true, opts);
    case "tensorflow":
      return tryNative(false, opts);
    case "webgpu":
      // 'auto' chooses for speed, and a software adapter emulates a GPU on the CPU.
      return tryWebGPU({ ...opts, allowSoftwareAdapter: opts.allowSoftwareAdapter && !auto });
    case "wasm":
      return tryWasm(opts);
    case "cpu":
      return tryCpu(opts);
  }
}

/**
 * Activates `choice`, or with `'auto'` the first that works of tfjs-node-gpu (on a real GPU),
 * tfjs-node, WebGPU (on a real GPU adapter), wasm and cpu. A package that is missing or fails to load costs one line in
 * `tried`, never a crash; an explicit choice that fails throws a `BackendError` with that line.
 */
export async function useBackend(
  choice: BackendChoice = "auto",
  options: UseBackendOptions = {},
): Promise<BackendSelection> {
  if (!CHOICES.includes(choice)) {
    throw new BackendError(
      "invalid_option",
      `useBackend: expected one of ${CHOICES.join(", ")}, got ${JSON.stringify(choice)}`,
    );
  }
  const opts = resolveUseBackendOptions(options);
  const order = choice === "auto" ? AUTO_ORDER : [choice];
  const tried: BackendAttempt[] = [];
  for (const candidate of order) {
    const outcome = await attempt(candidate, opts, choice === "auto");
    tried.push({ choice: candidate, ok: outcome.ok, reason: outcome.reason });
    if (!outcome.ok) continue;
    if (opts.trainingKernels) registerTrainingKernels();
    let reason = outcome.reason;
    let onnxruntime: OnnxRuntimeKernelsReport | null = null;
    if (opts.onnxruntime === false) {
      unregisterOnnxRuntimeKernels();
    } else if (candidate === "wasm" || candidate === "cpu") {
      try {
        onnxruntime = registerOnnxRuntimeKernels({
          threads: opts.threads,
          load: opts.loadOnnxRuntime,
        });
        const n = onnxruntime.threads;
        reason += `; convolutions on onnxruntime-node ${onnxruntime.version} (${n} thread${n === 1 ? "" : "s"})`;
      } catch (err) {
        if (opts.onnxruntime === true) throw err;
        reason += `; ${oneLine(err)} (convolutions on ${candidate})`;
      }
    }
    const advice = onnxruntime ? glibcMallocAdvice() : null;
    const tips = advice ? [advice] : [];
    return { backend: tf.getBackend(), reason, tried, onnxruntime, tips };
  }
  const lines = tried.map((t) => t.reason).join("; ");
  throw new BackendError(
    "backend_unavailable",
    choice === "auto"
      ? `useBackend('auto'): no backend could be loaded (${lines})`
      : `useBackend('${choice}'): ${lines}`,
  );
}
