// What the main thread and its replica workers say to each other (data-parallel.ts and
// data-parallel-worker.ts): internal to this package, not exported.

/** What a replica worker is started with (`workerData`). */
export interface ReplicaInit {
  /** How the worker builds its copy of the model: a builder to call, or the model's JSON. */
  model: { build: { module: string; export: string; args: unknown[] } } | { topology: object };
  /** Modules the worker imports before rebuilding the model (custom layers register there). */
  setup: string[];
  /** The tfjs backend of this thread, which every replica uses too. */
  backend: "wasm" | "cpu";
  threads: number;
  /** Whether this thread runs its convolutions on ONNX Runtime (the replicas then must). */
  onnxruntime: boolean;
  /** Shapes of the trainable variables, in order: the replica checks its model against them. */
  shapes: number[][];
}

/** This thread → replica: one slice of a batch. */
export interface ReplicaRequest {
  type: "gradients";
  id: number;
  /** All trainable weights, concatenated in `trainableWeights` order. */
  weights: Float32Array;
  x: Float32Array;
  /** Shape of `x`, rows first. */
  xShape: number[];
  y: Int32Array;
  labelSmoothing: number;
}

/** Replica → this thread. */
export type ReplicaMessage =
  | { type: "ready" }
  | { type: "result"; id: number; loss: number; correct: number; grads: Float32Array }
  | { type: "failed"; id: number | null; message: string };

/** One array holding `parts` one after another (weights or gradients in variable order). */
export function concatFloat32(
  parts: readonly (Float32Array | ArrayLike<number>)[],
): Float32Array<ArrayBuffer> {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
