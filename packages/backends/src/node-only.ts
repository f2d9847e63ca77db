// Where this package runs in Node it reaches Node's built-in modules through
// process.getBuiltinModule (Node >= 20.16) when a Node-only path runs, never by a static import:
// a browser bundle of @cnnkit/backends then has no "node:*" import to resolve, and the paths
// that need Node (onnxruntime-node, wasm's threads bridge, the helper thread) are skipped there.

/** Node's `process`, or undefined outside Node (a browser page or worker). */
export function nodeProcess(): NodeJS.Process | undefined {
  const proc = (globalThis as { process?: Partial<NodeJS.Process> }).process;
  return typeof proc?.getBuiltinModule === "function" ? (proc as NodeJS.Process) : undefined;
}

/** Threads a default may use: `os.availableParallelism()` in Node, the browser's core count elsewhere. */
export function availableThreads(): number {
  const proc = nodeProcess();
  if (proc) return proc.getBuiltinModule("node:os").availableParallelism();
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  return Number.isSafeInteger(cores) && cores! >= 1 ? cores! : 1;
}
