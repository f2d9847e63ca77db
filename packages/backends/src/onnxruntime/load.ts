// Loads `onnxruntime-node` for the convolution kernels (register.ts).
//
// tfjs kernels are synchronous, and the public `InferenceSession.run` returns a promise. It only
// defers (setImmediate) a call to the native session's synchronous `run`; this module calls
// that native binding (`onnxruntime-node/dist/binding.js`) directly, so it checks the binding's
// shape when loading and names the version it was built against (1.30) if it differs.
import { BackendError } from "../errors.js";
import { nodeProcess } from "../node-only.js";

/** The part of `onnxruntime-node` this package uses. */
export interface OnnxRuntimeModule {
  readonly version: string;
  /** `ort.Tensor`: wraps a Float32Array (no copy) with its dims. */
  readonly Tensor: new (
    type: "float32",
    data: Float32Array,
    dims: readonly number[],
  ) => unknown;
  /** A new native session (`binding.InferenceSession`), synchronous `loadModel` and `run`. */
  createSession(): NativeSession;
}

export interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, unknown>, options: object): unknown;
  dispose?(): void;
}

/** Loads `onnxruntime-node` and its native binding, or throws one line saying why not. */
export function loadOnnxRuntime(): OnnxRuntimeModule {
  const proc = nodeProcess();
  if (!proc) {
    throw new BackendError("onnxruntime_unavailable", "onnxruntime-node: needs Node.js");
  }
  const require = proc.getBuiltinModule("node:module").createRequire(import.meta.url);
  const path = proc.getBuiltinModule("node:path");
  let main: string;
  try {
    main = require.resolve("onnxruntime-node");
  } catch {
    throw new BackendError("onnxruntime_unavailable", "onnxruntime-node: not installed");
  }
  let ort: { Tensor?: OnnxRuntimeModule["Tensor"] };
  let binding: { binding?: { InferenceSession?: new () => NativeSession }; initOrt?: () => void };
  let version = "unknown";
  try {
    ort = require(main);
    binding = require(path.join(path.dirname(main), "binding.js"));
    version = (require(path.join(path.dirname(main), "..", "package.json")) as { version: string })
      .version;
  } catch (err) {
    const line = (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
    throw new BackendError("onnxruntime_unavailable", `onnxruntime-node: ${line.slice(0, 300)}`);
  }
  const Session = binding.binding?.InferenceSession;
  if (ort.Tensor == null || Session == null || typeof Session.prototype.run !== "function") {
    throw new BackendError(
      "onnxruntime_unavailable",
      `onnxruntime-node ${version}: its native binding lacks the synchronous session this package uses (built against 1.30)`,
    );
  }
  binding.initOrt?.();
  const Tensor = ort.Tensor;
  return { version, Tensor, createSession: () => new Session() };
}
