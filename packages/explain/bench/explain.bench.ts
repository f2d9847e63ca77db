// Benchmark: each analysis on smallResNet({ widths: [16, 32, 64] }) with tfjs's cpu backend
// (the slowest backend; a GPU backend is much faster on the convolutions).
// Run: cd packages/explain && pnpm bench   (node --conditions=@cnnkit/source --import tsx bench/explain.bench.ts)
import { smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import {
  featureMaps,
  firstLayerFilters,
  gradCam,
  gradCamGallery,
  gradientNormsByBlock,
} from "../src/index.js";

await tf.setBackend("cpu");
const REPEATS = 3;
const model = smallResNet({ widths: [16, 32, 64], seed: 1 });

let seed = 12345;
const rand = () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
};
const bytes = Uint8Array.from({ length: 16 * 3072 }, () => Math.floor(rand() * 256));
const source = { images: bytes, length: 16 };
const floats = (n: number) => Float32Array.from(bytes.subarray(0, n * 3072), (v) => v / 128 - 1);
const batch8 = tf.tensor4d(floats(8), [8, 32, 32, 3]);
const grads = Object.fromEntries(
  model.trainableWeights.map((w) => [w.name, tf.randomNormal(w.shape as number[])]),
);

function median(run: () => void): number {
  run(); // warm-up: JIT and first-call allocations
  const times: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const before = tf.memory().numTensors;
const rows: [string, number][] = [
  ["firstLayerFilters → PNG (16 filters)", median(() => firstLayerFilters(model).toPNG())],
  ["featureMaps, 1 image, 3 stages (pictures only)", median(() => featureMaps(model, floats(1)))],
  ["gradCam, batch 8, last stage", median(() => gradCam(model, batch8))],
  [
    "gradCamGallery → PNG, 8 images",
    median(() =>
      gradCamGallery(model, source, [0, 1, 2, 3, 4, 5, 6, 7], {
        classNames: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
        normalize: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
      }).toPNG(),
    ),
  ],
  [
    `gradientNormsByBlock (${model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a, b) => a! * b!, 1)!, 0).toLocaleString("en")} parameters)`,
    median(() => gradientNormsByBlock(grads, model)),
  ],
];
const leaked = tf.memory().numTensors - before;

console.log(
  `@cnnkit/explain bench: smallResNet widths [16, 32, 64], backend cpu, median of ${REPEATS}`,
);
console.log("| operation | ms |\n|---|---:|");
for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(1)} |`);
console.log(`tensors leaked: ${leaked}`);
console.log(
  "command: cd packages/explain && pnpm bench (node --conditions=@cnnkit/source --import tsx bench/explain.bench.ts)",
);
