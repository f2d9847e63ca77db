// Where a training step spends its time, per tfjs kernel (tf.profile), on one backend.
//   node --conditions=@cnnkit/source --import tsx bench/profile-step.ts [--backend wasm] [--widths 16,32,64]
//        [--model small|fast] [--batch 64] [--threads 1] [--infer] [--no-onnxruntime] [--by-shape]
//        [--min-channels N] [--no-arena] [--ort-threads N]
// --model fast: the fast recipe's fastResNet (widths of its three groups, e.g. 32,128,128).
// --by-shape also lists the convolution kernels per input shapes (which layers cost what).
import { parseArgs } from "node:util";
import { fastResNet, smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import {
  type BackendChoice,
  onnxRuntimeKernelsActive,
  registerOnnxRuntimeKernels,
  unregisterOnnxRuntimeKernels,
  useBackend,
} from "../src/index.js";
import { trainingStep } from "./training-step.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    backend: { type: "string", default: "wasm" },
    widths: { type: "string", default: "16,32,64" },
    model: { type: "string", default: "small" },
    batch: { type: "string", default: "64" },
    infer: { type: "boolean", default: false },
    threads: { type: "string", default: "1" },
    "no-onnxruntime": { type: "boolean", default: false },
    "by-shape": { type: "boolean", default: false },
    // registerOnnxRuntimeKernels' minChannels and memoryArena (defaults: theirs).
    "min-channels": { type: "string" },
    "no-arena": { type: "boolean", default: false },
    // ONNX Runtime's threads apart from wasm's (--threads sets both by default).
    "ort-threads": { type: "string" },
  },
});
const chosen = await useBackend(args.backend as BackendChoice, {
  threads: Number(args.threads),
  onnxruntime: args["no-onnxruntime"] ? false : "auto",
});
if (chosen.onnxruntime && (args["min-channels"] || args["no-arena"] || args["ort-threads"])) {
  unregisterOnnxRuntimeKernels();
  const minChannels = args["min-channels"] ? Number(args["min-channels"]) : undefined;
  registerOnnxRuntimeKernels({
    threads: Number(args["ort-threads"] ?? args.threads),
    minChannels,
    memoryArena: !args["no-arena"],
  });
}
console.log(chosen.reason, JSON.stringify(onnxRuntimeKernelsActive()));
const batch = Number(args.batch);
const widths = args.widths.split(",").map(Number);
const model =
  args.model === "fast" ? fastResNet({ widths, seed: 0 }) : smallResNet({ widths, seed: 0 });
const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, "float32", 1);
const train = trainingStep(model, batch, 1);
const step = () => {
  if (args.infer) tf.tidy(() => (model.apply(x, { training: false }) as tf.Tensor).dataSync());
  else train();
};
step();
step();
const t1 = performance.now();
step();
console.log(`one unprofiled step: ${(performance.now() - t1).toFixed(0)} ms`);
const t0 = performance.now();
const info = await tf.profile(step);
const wall = performance.now() - t0;
const byKernel = new Map<string, { ms: number; calls: number }>();
for (const k of info.kernels) {
  const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
  const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += ms;
  e.calls += 1;
  byKernel.set(k.name, e);
}
const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
console.log(
  `${args.backend} widths ${args.widths} batch ${batch}: step wall ${wall.toFixed(0)} ms (profiled), kernels ${total.toFixed(0)} ms, RSS ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`,
);
console.log(
  "(fusedConv2d__op and the like are ops wrapping the kernel listed below them: counted twice)",
);
for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) {
  console.log(
    `${name.padEnd(24)}${e.ms.toFixed(1).padStart(9)} ms ${String(e.calls).padStart(5)} calls ${((100 * e.ms) / total).toFixed(1).padStart(6)}%`,
  );
}
if (args["by-shape"]) {
  const byShape = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    if (!/^Conv2D|^FusedConv2D|^CnnkitOrt/.test(k.name)) continue;
    const key = `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join(" ")}`;
    const e = byShape.get(key) ?? { ms: 0, calls: 0 };
    e.ms += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    e.calls += 1;
    byShape.set(key, e);
  }
  console.log("\nconvolution kernels by input shapes:");
  for (const [key, e] of [...byShape].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(3)}x  ${key}`);
  }
}
process.exit(0); // wasm pthread workers would keep the process alive
