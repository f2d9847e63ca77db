// The page: controls, live figures and results. The training worker (worker.ts) does the
// arithmetic; this thread only asks, draws and keeps the TensorBoard events of the run.
import type { MetricsResult } from "@cnnkit/metrics";
import { confusionMatrixPicture } from "@cnnkit/metrics/pictures";
import { MemorySink, SummaryWriter } from "@cnnkit/tensorboard";
import { renderPNG } from "@cnnkit/viz";
import { Curves, percent, resultSummary, svgSource } from "./charts.js";
import { PRESET_LABELS, PRESET_NAMES, PRESETS, type PresetName, type Recipe } from "./presets.js";
import { BACKEND_REQUESTS, backendOfName, type Report, type Request } from "./protocol.js";
import { imageToPixels } from "./upload-image.js";

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

// The backend: the fastest the browser has, unless the URL names one (?backend=webgpu trains on
// WebGPU even on a software adapter, as the tests do on machines without a GPU).
const asked = new URLSearchParams(location.search).get("backend") ?? "auto";
const backendRequest = backendOfName(`backend=${asked}`);
const worker = new Worker(new URL("./worker.ts", import.meta.url), {
  type: "module",
  name: `cnnkit-playground backend=${backendRequest}`,
});
// A module worker drops what is posted to it before its code has run: hold requests until it
// says it listens.
let workerListens = false;
const held: Request[] = [];
function send(request: Request): void {
  if (workerListens) worker.postMessage(request);
  else held.push(request);
}

// ---- Backend ---------------------------------------------------------------------------------

const BACKEND_NAMES: Record<string, string> = {
  webgpu: "WebGPU",
  wasm: "WebAssembly",
  cpu: "plain JavaScript",
};

function showBackend(message: Extract<Report, { type: "backend" }>): void {
  const threads = /(\d+) threads/.exec(message.reason)?.[1];
  const name = BACKEND_NAMES[message.backend] ?? message.backend;
  el("backend").textContent =
    `Training on ${name}` +
    (threads ? ` with ${threads} threads` : message.backend === "wasm" ? ", one thread" : "") +
    `: ${message.reason}.` +
    (backendRequest === "auto" ? "" : ` (The page's URL asked for ${backendRequest}.)`) +
    (asked === backendRequest
      ? ""
      : ` (The URL's backend=${asked} is none of ${BACKEND_REQUESTS.join(", ")}: chose as auto does.)`);
  const list = el("backend-tried");
  list.replaceChildren(
    ...message.tried.map((t) => {
      const item = document.createElement("li");
      item.textContent = `${t.ok ? "chosen" : "not available"}: ${t.reason}`;
      return item;
    }),
  );
  el("isolation").textContent = message.isolated
    ? "This page is cross-origin isolated (served with COOP and COEP headers), so tfjs runs its multi-threaded WebAssembly build, with as many threads as it picks for this machine's cores."
    : "This page is not cross-origin isolated, so WebAssembly runs on one thread; serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp (vite dev and vite preview do) to use more.";
  el("backend").dataset.backend = message.backend;
  el("backend").dataset.isolated = String(message.isolated);
}

// ---- Offline ---------------------------------------------------------------------------------

declare const __CNNKIT_OFFLINE__: boolean;
// The built page registers sw.js (offline.ts), which keeps every file of the page, so it opens
// and trains without a network once it has been loaded (data then comes from a picked file).
if (__CNNKIT_OFFLINE__ && "serviceWorker" in navigator) {
  navigator.serviceWorker
    .register("./sw.js")
    .then(() => navigator.serviceWorker.ready)
    .then(() => {
      el("offline").textContent =
        "Saved for offline use: this page opens and trains without a network from now on (pick the archive from disk then).";
      el("offline").dataset.ready = "true";
    })
    .catch((error: unknown) => {
      el("offline").textContent =
        `Not saved for offline use: ${error instanceof Error ? error.message : String(error)}`;
    });
}

// ---- Data ------------------------------------------------------------------------------------

const loadStatus = el("load-status");
const loadProgress = el<HTMLProgressElement>("load-progress");
let loaded = false;
let running = false;

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

function startLoading(request: Request, what: string): void {
  loaded = false;
  updateButtons();
  loadProgress.removeAttribute("value");
  loadStatus.classList.remove("error");
  loadStatus.textContent = `Loading ${what}…`;
  el("preview").hidden = true;
  send(request);
}

el<HTMLFormElement>("url-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const url = el<HTMLInputElement>("data-url").value.trim();
  startLoading({ type: "load", url }, url);
});

el<HTMLInputElement>("data-file").addEventListener("change", (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (file) startLoading({ type: "load", file }, file.name);
});

// Announce progress in tenths: a screen reader must not read every percent.
let announcedTenth = -1;
function showLoadProgress(read: number, total: number | null): void {
  if (total) {
    loadProgress.max = total;
    loadProgress.value = read;
    const tenth = Math.floor((10 * read) / total);
    if (tenth !== announcedTenth) {
      announcedTenth = tenth;
      loadStatus.textContent = `Reading the archive: ${megabytes(read)} of ${megabytes(total)} (${percent(read / total, 0)}).`;
    }
  } else {
    loadStatus.textContent = `Reading the archive: ${megabytes(read)}.`;
  }
}

// ---- Recipe ----------------------------------------------------------------------------------

let preset: PresetName = "smoke";
const trainImages = el<HTMLInputElement>("train-images");
const testImages = el<HTMLInputElement>("test-images");
const epochs = el<HTMLInputElement>("epochs");

function fillSizes(): void {
  const recipe = PRESETS[preset];
  trainImages.value = String(recipe.trainImages);
  testImages.value = String(recipe.testImages);
  epochs.value = String(recipe.epochs);
}

function positive(input: HTMLInputElement, fallback: number): number {
  const value = Number(input.value);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

function recipe(): Recipe {
  const base = PRESETS[preset];
  return {
    ...base,
    trainImages: positive(trainImages, base.trainImages),
    testImages: positive(testImages, base.testImages),
    epochs: positive(epochs, base.epochs),
  };
}

const presets = el("presets");
for (const name of PRESET_NAMES) {
  const label = document.createElement("label");
  const radio = document.createElement("input");
  radio.type = "radio";
  radio.name = "preset";
  radio.value = name;
  radio.checked = name === preset;
  radio.addEventListener("change", () => {
    preset = name;
    fillSizes();
    if (loaded) send({ type: "preview", recipe: recipe() });
  });
  label.append(radio, ` ${PRESET_LABELS[name]}`);
  presets.append(label);
}
fillSizes();

// ---- Training --------------------------------------------------------------------------------

const trainStatus = el("train-status");
const trainProgress = el<HTMLProgressElement>("train-progress");
const startButton = el<HTMLButtonElement>("start");
const pauseButton = el<HTMLButtonElement>("pause");
const stopButton = el<HTMLButtonElement>("stop");
let paused = false;
let curves: Curves | null = null;
let events: { writer: SummaryWriter; sink: MemorySink; url: string | null } | null = null;

function updateButtons(): void {
  startButton.disabled = !loaded || running;
  pauseButton.disabled = !running;
  stopButton.disabled = !running;
  pauseButton.textContent = paused ? "Resume" : "Pause";
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "–";
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

startButton.addEventListener("click", () => {
  const chosen = recipe();
  running = true;
  paused = false;
  updateButtons();
  el("results").hidden = true;
  el("epochs-table").querySelector("tbody")!.replaceChildren();
  curves = new Curves({
    loss: el<HTMLImageElement>("curve-loss"),
    accuracy: el<HTMLImageElement>("curve-accuracy"),
    lr: el<HTMLImageElement>("curve-lr"),
  });
  const sink = new MemorySink("playground");
  const writer = new SummaryWriter("playground", { sink, flushIntervalMs: 0 });
  writer.text("config", `\`\`\`json\n${JSON.stringify(chosen, null, 2)}\n\`\`\``, 0);
  events = { writer, sink, url: null };
  trainProgress.value = 0;
  send({ type: "train", recipe: chosen });
});

pauseButton.addEventListener("click", () => {
  send({ type: paused ? "resume" : "pause" });
});

stopButton.addEventListener("click", () => {
  stopButton.disabled = true;
  trainStatus.textContent = "Stopping after this step, then measuring the model…";
  send({ type: "stop" });
});

function showStep(step: Extract<Report, { type: "step" }>): void {
  curves?.addStep(step);
  trainProgress.max = step.totalSteps;
  trainProgress.value = step.step;
  el("fig-step").textContent = `${step.step} / ${step.totalSteps}`;
  el("fig-epoch").textContent = `${step.epoch} / ${step.epochs}`;
  el("fig-loss").textContent = step.loss.toFixed(3);
  el("fig-accuracy").textContent = percent(step.accuracy);
  el("fig-lr").textContent = step.lr.toExponential(2);
  el("fig-speed").textContent = step.imagesPerSecond.toFixed(0);
  el("fig-eta").textContent = duration(step.etaSeconds);
  const w = events?.writer;
  w?.scalar("train/loss", step.loss, step.step);
  w?.scalar("train/acc", step.accuracy, step.step);
  w?.scalar("lr", step.lr, step.step);
  w?.scalar("images_per_second", step.imagesPerSecond, step.step);
}

function cell(row: HTMLTableRowElement, text: string, header = false): void {
  const c = document.createElement(header ? "th" : "td");
  if (header) c.setAttribute("scope", "row");
  c.textContent = text;
  row.append(c);
}

function showEpoch(epoch: Extract<Report, { type: "epoch" }>): void {
  curves?.addEpoch(epoch);
  const row = document.createElement("tr");
  cell(row, String(epoch.epoch), true);
  cell(row, String(epoch.step));
  cell(row, epoch.trainLoss.toFixed(4));
  cell(row, percent(epoch.trainAccuracy));
  cell(row, epoch.testLoss.toFixed(4));
  cell(row, percent(epoch.testAccuracy));
  cell(row, epoch.seconds.toFixed(1));
  el("epochs-table").querySelector("tbody")!.append(row);
  events?.writer.scalar("test/loss", epoch.testLoss, epoch.step);
  events?.writer.scalar("test/acc", epoch.testAccuracy, epoch.step);
  trainStatus.textContent = `Epoch ${epoch.epoch}: test accuracy ${percent(epoch.testAccuracy)}, train loss ${epoch.trainLoss.toFixed(3)}.`;
}

// ---- Results ---------------------------------------------------------------------------------

function showPicture(id: string, svg: string, alt: string): void {
  const image = el<HTMLImageElement>(id);
  image.src = svgSource(svg);
  image.alt = alt;
}

function fillTables(result: MetricsResult): void {
  const rows = result.perClass.map((c) => {
    const row = document.createElement("tr");
    cell(row, c.name, true);
    cell(row, String(c.support));
    cell(row, percent(c.recall));
    cell(row, percent(c.precision));
    cell(row, c.f1.toFixed(3));
    return row;
  });
  el("per-class")
    .querySelector("tbody")!
    .replaceChildren(...rows);

  const table = el("confusion-table");
  const head = document.createElement("tr");
  head.append(document.createElement("td"));
  for (const name of result.classNames) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    head.append(th);
  }
  const body = result.confusionMatrix.map((counts, i) => {
    const row = document.createElement("tr");
    cell(row, result.classNames[i]!, true);
    for (const n of counts) cell(row, String(n));
    return row;
  });
  table.replaceChildren(head, ...body);
}

async function showResults(message: Extract<Report, { type: "results" }>): Promise<void> {
  const { result } = message;
  running = false;
  paused = false;
  updateButtons();
  const summary = resultSummary(result, message.steps, message.stoppedEarly);
  el("results-summary").textContent = summary;
  el("results").dataset.accuracy = String(result.accuracy);
  el("results").dataset.examples = String(result.examples);
  const confusion = confusionMatrixPicture(result);
  showPicture(
    "confusion-image",
    confusion.toSVG(),
    `Confusion matrix of ${result.examples} test images; the table below gives the counts.`,
  );
  fillTables(result);
  if (message.failuresSvg) {
    showPicture(
      "failures-image",
      message.failuresSvg,
      "The test images the model got wrong with the most confidence, captioned true class, predicted class, confidence and test image number.",
    );
  } else {
    el("failures-caption").textContent = "No mistakes to show: every test image was right.";
  }
  showPicture(
    "filters-image",
    message.filtersSvg,
    "The first convolution's filters as small colour patches.",
  );
  el<HTMLInputElement>("explain-index").max = String(result.examples - 1);
  el("explain-output").hidden = true;
  el("explain-status").textContent = "";
  el("export-files").replaceChildren();
  el("export-status").textContent = "";
  el("results").hidden = false;
  el("results-heading").focus();
  // The run's events end with the confusion matrix as an image, as the trainer's do.
  if (events) {
    const step = curves?.steps.at(-1) ?? 0;
    events.writer.image("test/confusion_matrix", await renderPNG(confusion), step);
    await events.writer.flush();
    if (events.url) URL.revokeObjectURL(events.url);
    const bytes = events.sink.bytes();
    events.url = URL.createObjectURL(
      new Blob([bytes.slice()], { type: "application/octet-stream" }),
    );
    const link = document.createElement("a");
    el("events").replaceChildren(link);
    link.href = events.url;
    link.download = `events.out.tfevents.${Math.floor(Date.now() / 1000)}.cnnkit-playground`;
    link.textContent = `TensorBoard events (${(bytes.length / 1024).toFixed(0)} KB; open its folder with tensorboard --logdir)`;
  }
}

// ---- Grad-CAM --------------------------------------------------------------------------------

const explainStatus = el("explain-status");

el<HTMLFormElement>("explain-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const index = Number(el<HTMLInputElement>("explain-index").value);
  explainStatus.textContent = `Explaining test image ${index}…`;
  send({ type: "explain", index });
});

el<HTMLInputElement>("explain-file").addEventListener("change", async (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (!file) return;
  explainStatus.textContent = `Explaining ${file.name}…`;
  try {
    send({ type: "explain", pixels: await imageToPixels(file), name: file.name });
  } catch (error) {
    explainStatus.textContent = `${file.name}: ${(error as Error).message}`;
  }
});

function pngSource(bytes: Uint8Array): string {
  return URL.createObjectURL(new Blob([bytes.slice()], { type: "image/png" }));
}

function showExplained(message: Extract<Report, { type: "explained" }>): void {
  const image = el<HTMLImageElement>("explain-image");
  const overlay = el<HTMLImageElement>("explain-overlay");
  for (const img of [image, overlay]) if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  const verdict = `predicted ${message.predicted} (${percent(message.probability, 0)})${message.label ? `, true class ${message.label}` : ""}`;
  image.src = pngSource(message.imagePng);
  image.alt = `${message.subject}: ${verdict}`;
  overlay.src = pngSource(message.overlayPng);
  overlay.alt = `Grad-CAM of ${message.subject} for ${message.predicted}, from layer ${message.layer}`;
  el("explain-output").hidden = false;
  explainStatus.textContent = `${message.subject}: ${verdict}.`;
}

// ---- Export ----------------------------------------------------------------------------------

el<HTMLButtonElement>("export").addEventListener("click", () => {
  el("export-status").textContent = "Preparing the export…";
  send({ type: "export" });
});

function showExport(files: { name: string; bytes: Uint8Array }[]): void {
  const list = el("export-files");
  for (const old of list.querySelectorAll("a")) URL.revokeObjectURL(old.href);
  list.replaceChildren(
    ...files.map(({ name, bytes }) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([bytes.slice()]));
      link.download = name;
      link.textContent = `${name} (${(bytes.length / 1024).toFixed(0)} KB)`;
      item.append(link);
      return item;
    }),
  );
  el("export-status").textContent =
    `The export is ready: save the ${files.length} files into one folder; tfjs loads model.json with tf.loadLayersModel, ONNX Runtime (or any ONNX runtime) runs model.onnx, and @cnnkit/export's verifyExport and predict read the folder.`;
}

// ---- Worker reports --------------------------------------------------------------------------

const ERROR_TARGET: Record<string, HTMLElement> = {
  load: loadStatus,
  preview: loadStatus,
  train: trainStatus,
  explain: explainStatus,
  export: el("export-status"),
};

worker.addEventListener("message", (event: MessageEvent<Report>) => {
  const message = event.data;
  switch (message.type) {
    case "ready":
      workerListens = true;
      for (const request of held.splice(0)) worker.postMessage(request);
      return;
    case "backend":
      return showBackend(message);
    case "load-progress":
      return showLoadProgress(message.read, message.total);
    case "loaded":
      loaded = true;
      loadProgress.max = 1;
      loadProgress.value = 1;
      loadStatus.textContent = `Loaded ${message.train.toLocaleString("en")} training and ${message.test.toLocaleString("en")} test images (${megabytes(message.bytes)} in ${message.seconds.toFixed(1)} s).`;
      trainStatus.textContent = "Ready to train.";
      updateButtons();
      send({ type: "preview", recipe: recipe() });
      return;
    case "preview":
      showPicture(
        "preview-image",
        message.svg,
        "A grid of augmented training images with their class names.",
      );
      el("preview-caption").textContent = message.summary;
      el("preview").hidden = false;
      return;
    case "state":
      paused = message.state === "paused";
      updateButtons();
      trainStatus.textContent = `${message.state[0]!.toUpperCase()}${message.state.slice(1)}: ${message.detail}.`;
      return;
    case "step":
      return showStep(message);
    case "epoch":
      return showEpoch(message);
    case "results":
      void showResults(message);
      return;
    case "explained":
      return showExplained(message);
    case "exported":
      return showExport(message.files);
    case "error": {
      if (message.during === "train") {
        running = false;
        paused = false;
        updateButtons();
      }
      if (message.during === "load") loadProgress.value = 0;
      const target = ERROR_TARGET[message.during] ?? el("backend");
      target.textContent = `Error while ${message.during === "load" ? "loading" : message.during}: ${message.message}`;
      target.classList.add("error");
      return;
    }
  }
});

worker.addEventListener("error", (event) => {
  el("backend").textContent = `The training worker failed: ${event.message}`;
  el("backend").classList.add("error");
});
