// glibc's malloc against ONNX Runtime's outputs: what to set, and whether this process has it.
import { nodeProcess } from "./node-only.js";

/**
 * The `GLIBC_TUNABLES` value that keeps ONNX Runtime's output buffers in memory glibc reuses.
 *
 * onnxruntime-node (1.30, 1.31) copies every output of every run into a new ArrayBuffer; V8
 * frees those at its next collection, tens of megabytes at once, and glibc returns the freed
 * top of its heap to the OS (its trim threshold follows its dynamic mmap threshold: a few MB).
 * The next outputs then fault their pages in afresh: 12,500-31,800 page faults per fastResNet
 * step at batch 1,024, 770-10,500 per narrow-net step at batch 64 (90-200 and 8-39 ms of system
 * time). Fixing both thresholds (mmap at 32 MiB, glibc's most; trim at 256 MiB) keeps that
 * memory in the heap: a few hundred faults per step. Measured with `bench:malloc-ab`.
 *
 * glibc reads GLIBC_TUNABLES only when a process starts: set it in the environment that starts
 * Node (`GLIBC_TUNABLES=... node train.js`); a running process cannot change it.
 */
export const RECOMMENDED_GLIBC_TUNABLES =
  "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456";

/** The parts of Node's `process` that `glibcMallocAdvice` reads. */
export interface ProcessFacts {
  readonly platform: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly report?: { getReport(): unknown };
}

/**
 * One line saying how to start Node with RECOMMENDED_GLIBC_TUNABLES, where this process would
 * gain from it: Linux with glibc (not musl), neither malloc threshold set through
 * GLIBC_TUNABLES or MALLOC_*_THRESHOLD_, and no other allocator preloaded. `null` elsewhere (in
 * a browser, where `proc` is null, too). `useBackend` puts it in `tips` when ONNX Runtime's
 * kernels are active.
 */
export function glibcMallocAdvice(
  proc: ProcessFacts | null = nodeProcess() ?? null,
): string | null {
  if (proc?.platform !== "linux") return null;
  const env = proc.env;
  if (/glibc\.malloc\.(mmap|trim)_threshold=/.test(env.GLIBC_TUNABLES ?? "")) return null;
  if (env.MALLOC_MMAP_THRESHOLD_ || env.MALLOC_TRIM_THRESHOLD_ || env.LD_PRELOAD) return null;
  let glibc: unknown;
  try {
    glibc = (proc.report?.getReport() as { header?: { glibcVersionRuntime?: unknown } })?.header
      ?.glibcVersionRuntime;
  } catch {
    return null;
  }
  if (typeof glibc !== "string") return null;
  return `start Node with GLIBC_TUNABLES=${RECOMMENDED_GLIBC_TUNABLES}: glibc otherwise returns the freed output buffers of ONNX Runtime's kernels to the OS and faults them in again (training steps of a tf.train loop 1.10x faster on fastResNet, 1.15x on a narrow ResNet, on a 2-core VM; @cnnkit/backends README, glibcMallocAdvice)`;
}
