// The ONNX Runtime the kernels run on, with its settings and cached sessions: set by
// `registerOnnxRuntimeKernels()`, cleared by `unregisterOnnxRuntimeKernels()` (register.ts).
import type { NativeSession, OnnxRuntimeModule } from "./load.js";

/** A session, and the dims its graph declares for each input and output (to feed it with). */
export interface Compiled {
  session: NativeSession;
  dims: Map<string, readonly number[]>;
}

/** `minChannels`' default (see `OnnxRuntimeKernelsOptions` and `worthIt`). */
export const DEFAULT_MIN_CHANNELS = 16;

/** What `registerOnnxRuntimeKernels()` loaded and chose. */
export interface Runtime {
  ort: OnnxRuntimeModule;
  threads: number;
  minChannels: number;
  /** MLAS's NCHWc block (8 with AVX2, 16 with AVX-512F); 0 where the blocked kernels are absent. */
  blockSize: number;
  /** Whether sessions keep their intermediate buffers between runs (ORT's CPU arena). */
  memoryArena: boolean;
  sessions: Map<string, Compiled>;
}

let active: Runtime | null = null;

/** The runtime the kernels run on, or `null` while none is registered. */
export function activeRuntime(): Runtime | null {
  return active;
}

export function setActiveRuntime(runtime: Runtime | null): void {
  active = runtime;
}
