// Per-convolution timings of the training kernels on every ResNet conv shape: the backend's
// (forward conv, and this package's gradient kernels built on it) against the same three on
// ONNX Runtime (registerOnnxRuntimeKernels with minChannels 1, so that every shape really runs
// there: these columns are what the default minChannels policy was chosen from), when
// onnxruntime-node loads.
//   node --conditions=@cnnkit/source --import tsx bench/kernels.ts [--backend wasm] [--batch 64]
//        [--threads 2] [--filter REGEX] [--reps 2]
import os from "node:os";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { type BackendChoice, useBackend } from "../src/index.js";
import {
  registerOnnxRuntimeKernels,
  unregisterOnnxRuntimeKernels,
} from "../src/onnxruntime/register.js";
import { resnetConvShapes } from "../src/resnet-conv-shapes.js";
import { outputShape } from "../test/conv-check.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    backend: { type: "string", default: "wasm" },
    batch: { type: "string", default: "64" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    filter: { type: "string", default: "" },
    reps: { type: "string", default: "2" },
  },
});
const threads = Number(args.threads);
const chosen = await useBackend(args.backend as BackendChoice, { threads, onnxruntime: false });
let ort = "";
try {
  ort = `onnxruntime-node ${registerOnnxRuntimeKernels({ threads, minChannels: 1 }).version}, ${threads} threads`;
  unregisterOnnxRuntimeKernels();
} catch (err) {
  ort = `no onnxruntime: ${(err as Error).message}`;
}
const reps = Number(args.reps);

function ms(f: () => tf.Tensor): number {
  f().dispose();
  const t = performance.now();
  for (let i = 0; i < reps; i++) {
    const y = f();
    y.dataSync();
    y.dispose();
  }
  return (performance.now() - t) / reps;
}

console.log(
  `${chosen.reason}; ${ort}; batch ${args.batch}, ms per call (mean of ${reps} after a warm-up)`,
);
const cols = ["Conv2D", "dFilter", "dInput", "GFLOP/s"];
console.log(
  `${"".padEnd(34)}${`${chosen.backend}`.padStart(36)}${"onnxruntime".padStart(36)}\n${"conv".padEnd(34)}${[...cols, ...cols].map((c) => c.padStart(9)).join("")}`,
);
for (const s of resnetConvShapes(Number(args.batch))) {
  if (args.filter && !new RegExp(args.filter).test(s.name)) continue;
  const c = { ...s, stride: s.stride };
  const dyShape = outputShape(c);
  const x = tf.randomNormal(s.inputShape) as tf.Tensor4D;
  const w = tf.randomNormal(s.filterShape) as tf.Tensor4D;
  const dy = tf.randomNormal(dyShape);
  const common = { strides: s.stride, pad: s.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
  const e = tf.engine();
  const times = () => {
    const fwd = ms(() => tf.conv2d(x, w, s.stride, s.pad));
    const dW = ms(
      () =>
        e.runKernel("Conv2DBackpropFilter", { x, dy }, {
          ...common,
          filterShape: s.filterShape,
        } as never) as tf.Tensor,
    );
    const dX = ms(
      () =>
        e.runKernel("Conv2DBackpropInput", { dy, filter: w }, {
          ...common,
          inputShape: s.inputShape,
        } as never) as tf.Tensor,
    );
    const flops =
      2 * tf.util.sizeFromShape(dyShape) * s.filterShape[0] * s.filterShape[1] * s.filterShape[2];
    return [fwd, dW, dX, (3 * flops) / (fwd + dW + dX) / 1e6];
  };
  const own = times();
  let onOrt = [Number.NaN, Number.NaN, Number.NaN, Number.NaN];
  if (!ort.startsWith("no ")) {
    registerOnnxRuntimeKernels({ threads, minChannels: 1 });
    onOrt = times();
    unregisterOnnxRuntimeKernels();
  }
  console.log(
    `${s.name.padEnd(34)}${[...own, ...onOrt].map((v) => v.toFixed(1).padStart(9)).join("")}`,
  );
  tf.dispose([x, w, dy]);
}
process.exit(0); // wasm pthread workers
