// The main thread's side of the batch worker: starts it, matches answers to requests, and
// reports (rather than hides) why it could not be used.
// Node only (worker_threads): its built-in modules are reached when it starts, so a browser
// bundle imports none; Cifar10Batches prepares batches on the main thread outside Node.
import type { Worker } from "node:worker_threads";
import type { AugmentationSpec } from "./augmentation.js";
import type { BatchPlan, HostBatch } from "./prepare-batch.js";
import type { WorkerInit, WorkerRequest } from "./prepare-worker.js";

type Pending = { resolve: (host: HostBatch) => void; reject: (error: Error) => void };

/**
 * Starts the worker. Built, dist/index.js sits beside dist/prepare-worker.js. From sources
 * (tests and benches), the worker is TypeScript: a tiny bootstrap registers tsx's loader in the
 * new thread first (Node 20 workers ignore `--import` in `execArgv`).
 */
function startWorker(init: WorkerInit): Worker {
  const { Worker } = process.getBuiltinModule("node:worker_threads");
  if (!import.meta.url.endsWith(".ts")) {
    return new Worker(new URL("./prepare-worker.js", import.meta.url), { workerData: init });
  }
  const entry = new URL("./prepare-worker.ts", import.meta.url).href;
  // The ESM build of tsx's API (require.resolve would pick its CommonJS one).
  const { dirname, join } = process.getBuiltinModule("node:path");
  const { pathToFileURL } = process.getBuiltinModule("node:url");
  const require = process.getBuiltinModule("node:module").createRequire(import.meta.url);
  const tsxRoot = dirname(require.resolve("tsx/package.json"));
  const api = pathToFileURL(join(tsxRoot, "dist", "esm", "api", "index.mjs")).href;
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}));`;
  return new Worker(bootstrap, { eval: true, workerData: init });
}

export class BatchWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why the worker stopped working, once it has. */
  failure: string | null = null;
  /** True once the worker was stopped for being idle: start a new one for the next request. */
  retired = false;

  /**
   * @param idleMs after this long without a request the thread is stopped, so objects made and
   *   dropped (an evaluation per epoch, say) do not pile up idle threads.
   */
  constructor(
    plan: Omit<BatchPlan, "augment">,
    augment: AugmentationSpec | null,
    private readonly idleMs = 5000,
  ) {
    this.worker = startWorker({ plan, augment });
    this.worker.on("message", (message: { id: number; host?: HostBatch; error?: string }) => {
      const p = this.pending.get(message.id);
      if (!p) return;
      this.pending.delete(message.id);
      if (this.pending.size === 0) this.idle();
      if (message.host) p.resolve(message.host);
      else p.reject(new Error(message.error ?? "batch worker: no batch in the answer"));
    });
    const fail = (error: Error) => {
      clearTimeout(this.idleTimer);
      if (!this.retired) this.failure ??= error.message;
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`batch worker exited with code ${code}`)));
    // An idle worker must not keep the process alive, but one owing an answer must (else Node
    // exits under an `await` for the batch). Set after the listeners: adding one refs again.
    this.worker.unref();
  }

  private idle(): void {
    this.worker.unref();
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.retired = true;
      void this.worker.terminate();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  request(epoch: number, step: number): Promise<HostBatch> {
    if (this.failure) return Promise.reject(new Error(this.failure));
    if (this.retired) return Promise.reject(new Error("batch worker retired"));
    clearTimeout(this.idleTimer);
    const id = this.nextId++;
    return new Promise<HostBatch>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      const request: WorkerRequest = { id, epoch, step };
      this.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    this.failure ??= "batch worker closed";
    // terminate() resolves on the thread's exit event, but nothing keeps the event loop alive
    // until then (the worker is unref'd when idle, and ref() alone was not enough under load):
    // a script awaiting close() at its top level would end with Node's exit code 13 (unsettled
    // top-level await) instead of going on. A timer holds the loop open meanwhile.
    const keepAlive = setInterval(() => {}, 1000);
    try {
      await this.worker.terminate();
    } finally {
      clearInterval(keepAlive);
    }
  }
}
