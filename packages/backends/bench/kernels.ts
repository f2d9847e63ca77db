// Per-convolution timings of the training kernels on every ResNet conv shape, against the
// backend's forward conv (the speed to aim for) and, on wasm, its own Conv2DBackpropInput.
//   node --conditions=@cnnkit/source --import tsx bench/kernels.ts [--backend wasm] [--batch 64] [--filter REGEX]
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import {
  type BackendChoice,
  registerTrainingKernels,
  unregisterTrainingKernels,
  useBackend,
} from "../src/index.js";
import { resnetConvShapes } from "../src/resnet-conv-shapes.js";
import { outputShape } from "../test/conv-check.js";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "wasm" },
    batch: { type: "string", default: "64" },
    filter: { type: "string", default: "" },
    reps: { type: "string", default: "2" },
  },
});
const chosen = await useBackend(args.backend as BackendChoice);
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

console.log(`${chosen.reason}; batch ${args.batch}, ms per call (mean of ${reps} after a warm-up)`);
console.log(
  `${"conv".padEnd(34)}${"Conv2D".padStart(9)}${"dFilter".padStart(9)}${"dInput".padStart(9)}${"own dIn".padStart(9)}${"GFLOP/s".padStart(9)}`,
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
  const fwd = ms(() => tf.conv2d(x, w, s.stride, s.pad));
  const dW = ms(
    () =>
      e.runKernel("Conv2DBackpropFilter", { x, dy }, {
        ...common,
        filterShape: s.filterShape,
      } as never) as tf.Tensor,
  );
  const runDX = () =>
    e.runKernel("Conv2DBackpropInput", { dy, filter: w }, {
      ...common,
      inputShape: s.inputShape,
    } as never) as tf.Tensor;
  const dX = ms(runDX);
  // The backend's own Conv2DBackpropInput (wasm has one; cpu's is too slow to time at batch 64).
  let ownDX = Number.NaN;
  if (chosen.backend === "wasm") {
    unregisterTrainingKernels();
    ownDX = ms(runDX);
    registerTrainingKernels();
  }
  const flops =
    2 * tf.util.sizeFromShape(dyShape) * s.filterShape[0] * s.filterShape[1] * s.filterShape[2];
  const gf = (3 * flops) / (fwd + dW + dX) / 1e6;
  console.log(
    `${s.name.padEnd(34)}${fwd.toFixed(1).padStart(9)}${dW.toFixed(1).padStart(9)}${dX.toFixed(1).padStart(9)}${ownDX.toFixed(1).padStart(9)}${gf.toFixed(1).padStart(9)}`,
  );
  tf.dispose([x, w, dy]);
}
process.exit(0); // wasm pthread workers
