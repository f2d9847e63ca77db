// One ONNX Runtime session per distinct graph, created on first use and kept (up to a bound).
import { BackendError } from "../errors.js";
import { encodeOnnxModel, type OnnxGraph } from "./onnx-model.js";
import { activeRuntime, type Compiled } from "./runtime.js";

/** Sessions kept per distinct graph; a ResNet has a few dozen (shapes × 3 kernels). */
const MAX_SESSIONS = 256;

/** Graph `key`'s session, compiled from `build()` on first use. */
export function session(key: string, build: () => OnnxGraph): Compiled {
  const active = activeRuntime();
  if (active == null)
    throw new BackendError("onnxruntime_unavailable", "onnxruntime kernels are not registered");
  const cached = active.sessions.get(key);
  if (cached) return cached;
  const graph = build();
  const bytes = encodeOnnxModel(graph);
  const s = active.ort.createSession();
  s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
    intraOpNumThreads: active.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    // See OnnxRuntimeKernelsOptions.memoryArena: each session keeps its peak (its intermediates:
    // the padded, transposed and sliced copies of the activations) instead of taking fresh pages
    // from the OS, and faulting them in, on every run.
    enableCpuMemArena: active.memoryArena,
    logSeverityLevel: 3, // errors only: no warnings about these generated graphs on the console
    // Each session has its own pool: idle threads must sleep, not spin against the next kernel's
    // (measured: the narrow net trains at 150-160 img/s so, 80 with spinning on).
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
  if (active.sessions.size >= MAX_SESSIONS) {
    const [oldest] = active.sessions.keys();
    if (oldest !== undefined) {
      active.sessions.get(oldest)?.session.dispose?.();
      active.sessions.delete(oldest);
    }
  }
  const dims = new Map<string, readonly number[]>();
  for (const v of [...graph.inputs, ...graph.outputs]) if (v.shape) dims.set(v.name, v.shape);
  const compiled = { session: s, dims };
  active.sessions.set(key, compiled);
  return compiled;
}
