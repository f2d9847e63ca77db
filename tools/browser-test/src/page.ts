// What a web page can do with cnnkit, bundled by esbuild for the browser and run in headless
// Chromium by test/browser.test.ts: train a small ResNet a few steps, measure it, draw it,
// explain it and log it, all in memory. It reports numbers and bytes; the test judges them.

import { useBackend } from "@cnnkit/backends";
import { CIFAR10_CLASS_NAMES, Cifar10Batches, parseCifar10Split } from "@cnnkit/cifar10";
import { gradCamMaps } from "@cnnkit/explain";
import { exportOnnxAsync } from "@cnnkit/export/onnx";
import { ClassificationMetrics } from "@cnnkit/metrics";
import { confusionMatrixPicture } from "@cnnkit/metrics/pictures";
import {
  AdamW,
  applySchedule,
  getOptimizerState,
  saveOptimizerState,
  setOptimizerState,
} from "@cnnkit/optim";
import { smallResNet } from "@cnnkit/resnet";
import { OneCycleLR } from "@cnnkit/schedulers";
import { decodeEvents, MemorySink, SummaryWriter } from "@cnnkit/tensorboard";
import { trainStep } from "@cnnkit/train";
import { decodePNG, encodePNG, overlayHeatmap, renderPNG, savePicture } from "@cnnkit/viz";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

const BATCH = 16;
const STEPS = 8;

/** The code of the error `run` throws, or "no error". */
async function errorCode(run: () => unknown): Promise<string> {
  try {
    await run();
    return "no error";
  } catch (error) {
    return String((error as { code?: unknown }).code ?? (error as Error).message);
  }
}

export async function scenario() {
  // The page imported both backends; the test serves tfjs-backend-wasm's .wasm files at /wasm/.
  setWasmPaths("/wasm/");
  const wasm = await useBackend("wasm");
  const tensorsBefore = tf.memory().numTensors;

  // A fixed batch of seeded images, so a few steps visibly lower the loss, written as a CIFAR-10
  // binary batch file (label byte + planar pixels per record) as a page would fetch one, then
  // parsed and batched by @cnnkit/cifar10.
  const file = new Uint8Array(BATCH * 3073);
  let seed = 12345;
  for (let r = 0; r < BATCH; r++) {
    file[r * 3073] = r % 10;
    for (let i = 1; i < 3073; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      file[r * 3073 + i] = seed >>> 24;
    }
  }
  const split = parseCifar10Split([file], ["data_batch_1.bin"]);
  const batches = new Cifar10Batches(split, { batchSize: BATCH, shuffle: false });
  const preparedOn = batches.preparation.where;
  let batch: { x: tf.Tensor4D; y: tf.Tensor1D } | undefined;
  for await (const b of batches.epoch(0)) batch = b as typeof batch;
  await batches.close();
  const { x, y } = batch!;

  const model = smallResNet({ widths: [8, 16, 32], seed: 0 });
  const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 1e-4 });
  const schedule = new OneCycleLR({ maxLr: 1e-2, totalSteps: STEPS });
  const sink = new MemorySink("page");
  const writer = new SummaryWriter("page", { sink });
  const losses: number[] = [];
  const lrs: number[] = [];
  const started = performance.now();
  for (let step = 0; step < STEPS; step++) {
    applySchedule(optimizer, schedule);
    lrs.push(optimizer.learningRate);
    const { loss } = await trainStep(model, optimizer, x, y, { gradClip: 1 });
    losses.push(loss);
    writer.scalar("train/loss", loss, step + 1);
    writer.scalar("train/lr", lrs[step]!, step + 1);
    schedule.step();
  }
  const trainMs = performance.now() - started;

  // The optimizer's state survives a round trip in memory; the file functions say they need Node.
  const resumed = new AdamW({ learningRate: 1e-3, weightDecay: 1e-4 });
  await setOptimizerState(resumed, await getOptimizerState(optimizer));
  const resumedIterations = resumed.iterations;
  resumed.dispose();

  // Metrics and the confusion matrix, as SVG and as PNG drawn through the page's canvas.
  const metrics = new ClassificationMetrics({ classNames: [...CIFAR10_CLASS_NAMES] });
  const logits = tf.tidy(() => model.predict(x) as tf.Tensor2D);
  metrics.update(logits, y);
  logits.dispose();
  const result = metrics.result();
  const picture = confusionMatrixPicture(result);
  const svg = picture.toSVG();
  const png = decodePNG(await renderPNG(picture, { scale: 2 }));
  writer.image("confusion", await renderPNG(picture), STEPS);

  // Grad-CAM on the first two images, laid over the first one as a PNG.
  const firstTwo = tf.slice(x, [0, 0, 0, 0], [2, 32, 32, 3]) as tf.Tensor4D;
  const cam = gradCamMaps(model, firstTwo);
  firstTwo.dispose();
  const overlay = overlayHeatmap(
    { data: split.images.subarray(0, 32 * 32 * 3), width: 32, height: 32 },
    cam.maps[0]!,
    { heatShape: [cam.height, cam.width] },
  );
  const overlayPng = decodePNG(encodePNG(overlay));
  const camValues = cam.maps.flatMap((m) => Array.from(m));

  // TensorBoard events in memory, and offered as a download the way a page would.
  await writer.close();
  const bytes = sink.bytes();
  const events = decodeEvents(bytes).events;
  const values = events.flatMap((e) => (e.summary ?? []).map((v) => ({ ...v, step: e.step })));
  const scalars = values
    .filter((v) => v.simpleValue !== undefined)
    .map((v) => ({ tag: v.tag, step: v.step, value: v.simpleValue! }));
  const eventImages = values
    .filter((v) => v.image)
    .map((v) => ({ tag: v.tag, width: v.image!.width, height: v.image!.height }));
  const url = URL.createObjectURL(new Blob([bytes.slice()], { type: "application/octet-stream" }));
  const downloaded = new Uint8Array(await (await fetch(url)).arrayBuffer());
  URL.revokeObjectURL(url);

  // The same model on the cpu backend (with the training kernels) predicts what wasm did.
  const onWasm = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
  const cpu = await useBackend("cpu");
  const onCpu = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
  let cpuWasmDiff = 0;
  for (let i = 0; i < onCpu.length; i++) {
    cpuWasmDiff = Math.max(cpuWasmDiff, Math.abs(onCpu[i]! - onWasm[i]!));
  }

  // The trained model as ONNX, written in the page (the test runs it in onnxruntime-node on the
  // same batch and compares with these logits).
  const onnx = await exportOnnxAsync(model);
  const onnxInput = Array.from(await x.data());

  const nodeOnly = {
    savePicture: await errorCode(() => savePicture(picture, "confusion.png")),
    toPNG: await errorCode(() => picture.toPNG()),
    saveOptimizerState: await errorCode(() => saveOptimizerState(optimizer, "ckpt")),
  };

  tf.dispose([x, y]);
  model.dispose();
  optimizer.dispose();
  return {
    cifar10: { length: split.length, labels: Array.from(split.labels), preparedOn },
    backends: {
      wasm: { backend: wasm.backend, reason: wasm.reason },
      cpu: { backend: cpu.backend, reason: cpu.reason },
      logits: onCpu.length,
      cpuWasmDiff,
    },
    trainMs,
    losses,
    lrs,
    resumedIterations,
    accuracy: result.accuracy,
    confusionTotal: result.confusionMatrix.flat().reduce((a, b) => a + b, 0),
    picture: { width: picture.width, height: picture.height, svgHead: svg.slice(0, 200) },
    png: { width: png.width, height: png.height, channels: png.channels },
    gradCam: { maps: cam.maps.length, height: cam.height, width: cam.width, values: camValues },
    overlay: { width: overlayPng.width, height: overlayPng.height, channels: overlayPng.channels },
    events: { bytes: bytes.length, downloaded: downloaded.length, scalars, images: eventImages },
    onnx: {
      bytes: Array.from(onnx.bytes),
      foldedBatchNorms: onnx.foldedBatchNorms,
      input: onnxInput,
      shape: x.shape,
      logits: Array.from(onCpu),
    },
    nodeOnly,
    tensorsLeaked: tf.memory().numTensors - tensorsBefore,
  };
}

export type ScenarioResult = Awaited<ReturnType<typeof scenario>>;

(globalThis as { scenario?: typeof scenario }).scenario = scenario;
