// Turns on tfjs-backend-wasm's multi-threaded build in Node, which tfjs disables there
// (tensorflow/tfjs#3830). Three things stand in the way, each bridged only while the backend
// initialises:
// 1. tfjs hands Emscripten the pthread worker script as a `blob:` URL, which Node's
//    worker_threads cannot load: the script is written to a file and that path handed out.
// 2. Each worker is then sent the main script as a Blob it cannot import either: a shim appended
//    to the worker script swaps it for the path of the same script inside the package.
// 3. The C++ side caps the pool at (logical cores / 2), read from os.cpus() in Node, which is a
//    single thread on a 2-core machine: os.cpus() reports enough cores for the threads asked.
// And one more: the pool's threads run for the life of the process and Emscripten ref()s their
// workers, so Node would never exit by itself; `ref()` is a no-op while the pool starts.
// Node only: its built-in modules are reached when it runs, so a browser bundle imports none.
import type { CpuInfo } from "node:os";
import * as tf from "@tensorflow/tfjs-core";

interface WasmModule {
  setThreadsCount?: (n: number) => void;
  default?: { setThreadsCount?: (n: number) => void };
}

/** Writes (once per content) the patched pthread worker script, returning its path. */
function workerScript(): string {
  const { createHash } = process.getBuiltinModule("node:crypto");
  const fs = process.getBuiltinModule("node:fs");
  const os = process.getBuiltinModule("node:os");
  const path = process.getBuiltinModule("node:path");
  const require = process.getBuiltinModule("node:module").createRequire(import.meta.url);
  const workerModule = require.resolve(
    "@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js",
  );
  const mainScript = path.join(path.dirname(workerModule), "tfjs-backend-wasm-threaded-simd.js");
  const contents = (require(workerModule) as { wasmWorkerContents: string }).wasmWorkerContents;
  // As tfjs does before making its Blob: the template string holds real newlines inside "..." literals.
  const shim = `;(function(){var onmessage0=self.onmessage;self.onmessage=function(e){if(e&&e.data&&e.data.cmd==="load"&&typeof e.data.urlOrBlob!=="string"){e.data.urlOrBlob=${JSON.stringify(mainScript)}}return onmessage0(e)}})();\n`;
  const source = `${contents.replace(/\n/g, "\\n")}\n${shim}`;
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const file = path.join(os.tmpdir(), `cnnkit-tfjs-wasm-worker-${hash}.cjs`);
  if (!fs.existsSync(file)) {
    const partial = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(partial, source);
    fs.renameSync(partial, file);
  }
  return file;
}

/**
 * Initialises the `wasm` backend with `threads` threads (call before its first use). Returns
 * whether it initialised; the Node globals it bridges are restored either way.
 */
export async function initWasmWithThreads(wasmModule: unknown, threads: number): Promise<boolean> {
  const mod = wasmModule as WasmModule;
  const setThreadsCount = mod.setThreadsCount ?? mod.default?.setThreadsCount;
  if (!setThreadsCount) return false;
  const file = workerScript();
  const os = process.getBuiltinModule("node:os");
  const { Worker } = process.getBuiltinModule("node:worker_threads");
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  const ref = Worker.prototype.ref;
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  setThreadsCount(threads);
  URL.createObjectURL = ((obj: Blob) =>
    obj instanceof Blob && obj.type === "application/javascript"
      ? file
      : createObjectURL(obj)) as typeof URL.createObjectURL;
  os.cpus = () => {
    const real = cpus();
    return Array.from(
      { length: Math.max(real.length, 2 * threads) },
      (_, i) => real[i % real.length] as CpuInfo,
    );
  };
  Worker.prototype.ref = function (this: InstanceType<typeof Worker>) {};
  try {
    return await tf.setBackend("wasm");
  } catch {
    return false;
  } finally {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
    Worker.prototype.ref = ref;
  }
}
