// What the SIMD loops' helper thread is worth, measured robustly on a VM whose speed drifts by
// ±20% within minutes: training steps alternate between helper on and off in one process (the
// order flips every pair), so both see the same machine; prints the median of the paired ratios.
// Also times the BatchNorm and ReLU-gradient kernels alone on one activation shape.
//   node --conditions=@cnnkit/source --import tsx bench/helper-thread.ts [--widths 16,32,64]
//        [--pairs 16] [--shape 64,32,32,16]
import { parseArgs } from "node:util";
import { smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import {
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  RELU_GRAD,
  useBackend,
} from "../src/index.js";
import { simdLoops } from "../src/wasm-simd.js";
import { trainingStep } from "./training-step.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    widths: { type: "string", default: "16,32,64" },
    pairs: { type: "string", default: "16" },
    shape: { type: "string", default: "64,32,32,16" },
  },
});
const chosen = await useBackend("wasm", { threads: 2 });
console.log(chosen.reason);
const loops = simdLoops(tf.backend());
if (loops == null) throw new Error("no SIMD loops on this backend");
for (let t = 0; t < 200 && !loops.helperReady(); t++) await new Promise((r) => setTimeout(r, 25));
if (!loops.helperReady()) {
  console.log("no helper thread: the wasm backend runs single-threaded (unshared memory)");
  process.exit(0);
}

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1] as number;
function paired(label: string, run: () => void, pairs: number): void {
  for (let i = 0; i < 3; i++) run();
  const on: number[] = [];
  const off: number[] = [];
  for (let i = 0; i < pairs; i++) {
    for (const mode of i % 2 ? [true, false] : [false, true]) {
      loops?.useHelper(mode);
      const t0 = performance.now();
      run();
      (mode ? on : off).push(performance.now() - t0);
    }
  }
  loops?.useHelper(true);
  const ratios = on.map((v, i) => (off[i] as number) / v).sort((a, b) => a - b);
  console.log(
    `${label}: median ${median(on).toFixed(2)} ms with the helper, ${median(off).toFixed(2)} ms without; paired speed-up ${median(ratios).toFixed(3)}× (range ${ratios[0]?.toFixed(2)}–${ratios.at(-1)?.toFixed(2)})`,
  );
}

const shape = args.shape.split(",").map(Number);
const C = shape.at(-1) as number;
const x = tf.randomNormal(shape);
const dy = tf.randomNormal(shape);
const gamma = tf.ones([C]);
const beta = tf.zeros([C]);
const e = tf.engine();
paired(
  `BatchNorm forward + gradient + ReLU gradient [${shape}]`,
  () => {
    const [y, mean, variance] = e.runKernel(
      BATCH_NORM_TRAINING,
      { x, gamma, beta },
      { epsilon: 1e-5 },
    ) as tf.Tensor[];
    const grads = e.runKernel(
      BATCH_NORM_TRAINING_GRAD,
      { dy, x, mean: mean as tf.Tensor, variance: variance as tf.Tensor, gamma },
      { epsilon: 1e-5 },
    ) as tf.Tensor[];
    const r = e.runKernel(RELU_GRAD, { dy, x }, {}) as tf.Tensor;
    tf.dispose([y as tf.Tensor, mean as tf.Tensor, variance as tf.Tensor, ...grads, r]);
  },
  4 * Number(args.pairs),
);

const widths = args.widths.split(",").map(Number);
const model = smallResNet({ widths, seed: 0 });
paired(
  `SmallResNet ${widths} training step, batch 64`,
  trainingStep(model, 64, 1),
  Number(args.pairs),
);
console.log(`calls run on the helper thread: ${loops.helperCalls()}`);
process.exit(0); // wasm's pthread workers would keep the process alive
