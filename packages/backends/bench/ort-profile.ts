// ONNX Runtime's profiler for the benches: a session that writes one, and its per-node events.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import type { loadOnnxRuntime } from "../src/onnxruntime/load.js";

type Ort = ReturnType<typeof loadOnnxRuntime>;
export type ProfiledSession = ReturnType<Ort["createSession"]> & { endProfiling(): void };

/** A sequential session on `threads` threads; `profileDir` set: it profiles into that folder. */
export function benchSession(
  ort: Ort,
  bytes: Uint8Array,
  options: { threads: number; memoryArena?: boolean; profileDir?: string; spinning?: boolean },
): ProfiledSession {
  const s = ort.createSession() as ProfiledSession;
  s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    enableCpuMemArena: options.memoryArena ?? true,
    logSeverityLevel: 3,
    ...(options.profileDir
      ? { enableProfiling: true, profileFilePrefix: path.join(options.profileDir, "p") }
      : {}),
    ...(options.spinning === false
      ? { extra: { session: { intra_op: { allow_spinning: "0" } } } }
      : {}),
  });
  return s;
}

export interface NodeEvent {
  /** The operator type, e.g. "Conv". */
  op: string;
  /** The first output's shape. */
  shape: number[];
  ms: number;
}

/**
 * The kernel events of the one profile in `dir` (then deleted), per run: `runs` runs after
 * `skip` left out (the first: allocations, the memory arena's growth).
 */
export function readProfile(dir: string, skip: number, runs: number): NodeEvent[] {
  const file = readdirSync(dir).map((f) => path.join(dir, f))[0] as string;
  const events = JSON.parse(readFileSync(file, "utf8")) as {
    cat: string;
    name: string;
    dur: number;
    args: { op_name?: string; output_type_shape?: Record<string, number[]>[] };
  }[];
  rmSync(file);
  const nodes = events.filter((e) => e.cat === "Node" && e.name.endsWith("_kernel_time"));
  const perRun = nodes.length / (skip + runs);
  return nodes.slice(perRun * skip).map((e) => ({
    op: e.args.op_name ?? e.name,
    shape: Object.values(e.args.output_type_shape?.[0] ?? {})[0] ?? [],
    ms: e.dur / 1000 / runs,
  }));
}
