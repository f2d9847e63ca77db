// The page's training worker: it owns tfjs, the data and the model, so training never blocks the
// page. It picks the backend once, then answers the page's requests (protocol.ts) one at a time;
// pause, resume and stop are handled between two training steps.
import { type BackendSelection, useBackend } from "@cnnkit/backends";
import type { Cifar10Split } from "@cnnkit/cifar10";
import "@tensorflow/tfjs-backend-cpu";
import * as tfWasm from "@tensorflow/tfjs-backend-wasm";
import wasmPlain from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url";
import wasmSimd from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url";
import wasmThreaded from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url";
import * as tfWebgpu from "@tensorflow/tfjs-backend-webgpu";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { archiveFromFile, archiveFromUrl, readCifar10Archive } from "./cifar10-archive.js";
import { exportFiles } from "./export-files.js";
import { augmentedPreview, explainImage, resultsOf } from "./inspect.js";
import type { Recipe } from "./presets.js";
import { type BackendRequest, backendOfName, type Report, type Request } from "./protocol.js";
import { firstImages, type RunControl, runTraining } from "./run.js";

const scope = globalThis as unknown as {
  postMessage(message: Report, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<Request>) => void) | null;
  crossOriginIsolated?: boolean;
  /** The name the page gave the worker: it says which backend to take. */
  name?: string;
};

function report(message: Report, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

// The page's bundle holds these backends; the Node-only ones say so in useBackend's reasons.
// useBackend("auto") takes WebGPU on a real GPU adapter, never on a software one (slower than
// WebAssembly), then WebAssembly.
const BUNDLED: Record<string, unknown> = {
  "@tensorflow/tfjs-backend-webgpu": tfWebgpu,
  "@tensorflow/tfjs-backend-wasm": tfWasm,
  "@tensorflow/tfjs-backend-cpu": {},
};

async function chooseBackend(choice: BackendRequest): Promise<BackendSelection> {
  tfWasm.setWasmPaths({
    "tfjs-backend-wasm.wasm": wasmPlain,
    "tfjs-backend-wasm-simd.wasm": wasmSimd,
    "tfjs-backend-wasm-threaded-simd.wasm": wasmThreaded,
  });
  return useBackend(choice, {
    importModule: async (name) => {
      if (name in BUNDLED) return BUNDLED[name];
      throw new Error("not in this page's bundle (a Node.js package)");
    },
    // Asked for by name (?backend=webgpu), WebGPU is taken even on a software adapter; "auto"
    // never takes one.
    allowSoftwareAdapter: choice === "webgpu",
  });
}

let data: { train: Cifar10Split; test: Cifar10Split } | null = null;
let trained: {
  model: LayersModel;
  recipe: Recipe;
  metrics: Record<string, number | string>;
} | null = null;

/** Pause, resume and stop, as the training loop sees them. */
class Control implements RunControl {
  stopRequested = false;
  #resume: (() => void) | null = null;
  #paused: Promise<void> | null = null;

  pause(): void {
    if (this.#paused || this.stopRequested) return;
    this.#paused = new Promise((done) => {
      this.#resume = done;
    });
  }

  resume(): void {
    this.#resume?.();
    this.#resume = null;
    this.#paused = null;
  }

  stop(): void {
    this.stopRequested = true;
    this.resume();
  }

  get paused(): boolean {
    return this.#paused !== null;
  }

  untilResumed(): Promise<void> {
    return this.#paused ?? Promise.resolve();
  }
}

let control: Control | null = null;

function needData(): { train: Cifar10Split; test: Cifar10Split } {
  if (!data) throw new Error("load CIFAR-10 first");
  return data;
}

function needModel(): NonNullable<typeof trained> {
  if (!trained) throw new Error("train a model first");
  return trained;
}

async function load(request: Extract<Request, { type: "load" }>): Promise<void> {
  const started = performance.now();
  data = null;
  const source =
    "url" in request ? await archiveFromUrl(request.url) : archiveFromFile(request.file);
  const loaded = await readCifar10Archive(source, (read, total) =>
    report({ type: "load-progress", read, total }),
  );
  data = { train: loaded.train, test: loaded.test };
  report({
    type: "loaded",
    train: loaded.train.length,
    test: loaded.test.length,
    bytes: loaded.bytes,
    seconds: (performance.now() - started) / 1000,
  });
}

async function train(recipe: Recipe): Promise<void> {
  const splits = needData();
  if (control) throw new Error("a run is in progress: stop it first");
  trained?.model.dispose();
  trained = null;
  control = new Control();
  report({ type: "state", state: "training", detail: `training the ${recipe.preset} recipe` });
  try {
    const outcome = await runTraining(recipe, splits, control, {
      onStep: (step) => report({ type: "step", ...step }),
      onEpoch: (epoch) => {
        report({ type: "epoch", ...epoch });
        report({ type: "state", state: "training", detail: `epoch ${epoch.epoch} evaluated` });
      },
      onEvaluating: (epoch) =>
        report({
          type: "state",
          state: "evaluating",
          detail: `evaluating epoch ${epoch} on ${Math.min(recipe.testImages, splits.test.length)} test images`,
        }),
    });
    report({ type: "state", state: "evaluating", detail: "measuring the trained model" });
    const test = firstImages(splits.test, recipe.testImages);
    const { result, failuresSvg, filtersSvg } = await resultsOf(outcome.model, test);
    trained = {
      model: outcome.model,
      recipe,
      metrics: {
        preset: recipe.preset,
        testAccuracy: result.accuracy,
        testLoss: result.loss,
        testImages: test.length,
        trainImages: Math.min(recipe.trainImages, splits.train.length),
        epochs: recipe.epochs,
        steps: outcome.steps,
        status: outcome.stoppedEarly ? "stopped early" : "completed",
      },
    };
    report({
      type: "results",
      result,
      failuresSvg,
      filtersSvg,
      steps: outcome.steps,
      stoppedEarly: outcome.stoppedEarly,
    });
    report({
      type: "state",
      state: "done",
      detail: `${outcome.stoppedEarly ? "stopped" : "finished"} after ${outcome.steps} steps: test accuracy ${(result.accuracy * 100).toFixed(1)}%`,
    });
  } finally {
    control = null;
  }
}

async function explain(request: Extract<Request, { type: "explain" }>): Promise<void> {
  const { model } = needModel();
  if ("index" in request) {
    const { test } = needData();
    const { index } = request;
    if (!Number.isInteger(index) || index < 0 || index >= test.length) {
      throw new Error(`test image: expected an index from 0 to ${test.length - 1}, got ${index}`);
    }
    const pixels = test.images.subarray(index * 3072, (index + 1) * 3072);
    const explained = await explainImage(model, pixels, `test image ${index}`, test.labels[index]!);
    report(explained, [explained.imagePng.buffer, explained.overlayPng.buffer]);
  } else {
    const explained = await explainImage(model, request.pixels, request.name, null);
    report(explained, [explained.imagePng.buffer, explained.overlayPng.buffer]);
  }
}

async function handle(request: Request): Promise<void> {
  switch (request.type) {
    case "load":
      return load(request);
    case "preview": {
      const preview = await augmentedPreview(needData().train, request.recipe);
      return report({ type: "preview", ...preview });
    }
    case "train":
      return train(request.recipe);
    case "pause":
      control?.pause();
      if (control) report({ type: "state", state: "paused", detail: "paused between two steps" });
      return;
    case "resume":
      control?.resume();
      if (control) report({ type: "state", state: "training", detail: "resumed" });
      return;
    case "stop":
      control?.stop();
      return;
    case "explain":
      return explain(request);
    case "export": {
      const { model, metrics } = needModel();
      const files = await exportFiles(model, metrics);
      return report(
        { type: "exported", files },
        files.map((f) => f.bytes.buffer),
      );
    }
  }
}

// One request at a time, in order, except the controls, which must reach a running loop.
let queue: Promise<void> = Promise.resolve();
const CONTROLS = new Set<Request["type"]>(["pause", "resume", "stop"]);

function failed(during: string, error: unknown): void {
  report({
    type: "error",
    during,
    message: error instanceof Error ? error.message : String(error),
  });
}

function start(choice: BackendRequest): Promise<void> {
  return chooseBackend(choice).then((selection) => {
    report({
      type: "backend",
      backend: selection.backend,
      reason: selection.reason,
      tried: selection.tried.map(({ choice, ok, reason }) => ({ choice, ok, reason })),
      isolated: scope.crossOriginIsolated === true,
    });
  });
}

queue = start(backendOfName(scope.name ?? "")).catch((error) =>
  failed("choosing a backend", error),
);

scope.onmessage = (event) => {
  const request = event.data;
  if (CONTROLS.has(request.type)) {
    handle(request).catch((error) => failed(request.type, error));
    return;
  }
  queue = queue.then(() => handle(request).catch((error) => failed(request.type, error)));
};
// Only now does the worker listen; the page holds its requests until it hears this.
report({ type: "ready" });
