// How fast batches of the fast (airbench-style) recipe are prepared: translate by 2 with reflect
// padding + alternating flip + normalise into a float32 batch of 1,024, on the main thread and
// in the worker thread, and how long a training step waits for its data.
// Run from packages/cifar10:
//   node --conditions=@cnnkit/source --import tsx bench/prepare-speed.ts [--batch 1024] [--step-ms 1024]
// The images are 50,000 seeded random ones (the speed does not depend on their content).
import "@tensorflow/tfjs-backend-cpu";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { alternatingFlip } from "../src/alternating-flip.js";
import { Cifar10Batches, type Cifar10BatchesOptions } from "../src/batches.js";
import { horizontalFlip } from "../src/horizontal-flip.js";
import { randomCrop } from "../src/random-crop.js";
import { Rng } from "../src/rng.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    batch: { type: "string", default: "1024" },
    // A step of 1,024 ms per 1,024 images is a model training at 1,000 images/s.
    "step-ms": { type: "string", default: "1024" },
    steps: { type: "string", default: "12" },
    flip: { type: "string", default: "alternating" },
  },
});
const batchSize = Number(args.batch);
const stepMs = Number(args["step-ms"]);
const steps = Number(args.steps);

const n = 50_000;
const images = new Uint8Array(new SharedArrayBuffer(n * 3072));
const rng = new Rng(0);
for (let i = 0; i < images.length; i += 4) {
  const v = rng.nextUint32();
  images[i] = v;
  images[i + 1] = v >>> 8;
  images[i + 2] = v >>> 16;
  images[i + 3] = v >>> 24;
}
const split = { images, labels: Uint8Array.from({ length: n }, (_, i) => i % 10), length: n };
const augment = [
  args.flip === "random" ? horizontalFlip() : alternatingFlip(),
  randomCrop({ padding: 2, paddingMode: "reflect" }),
];
const options: Cifar10BatchesOptions = { batchSize, seed: 1, augment };

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
const rate = (images: number, ms: number) =>
  `${Math.round((images / ms) * 1000).toLocaleString("en")} images/s`;

await tf.setBackend("cpu");
console.log(
  `@cnnkit/cifar10 preparation bench: batch ${batchSize}, ${augment.map((a) => a.name).join(" + ")} + normalise to float32`,
);
console.log(
  `node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(1)}; medians of 3 rounds of ${steps} batches\n`,
);

// 1. The preparation alone, one thread.
const main = new Cifar10Batches(split, { ...options, workerThread: false });
const order = main.order(0);
main.prepare(0, 0, order); // warm up the JIT
const prepMs: number[] = [];
const prepCpu: number[] = [];
for (let r = 0; r < 3; r++) {
  const c = process.cpuUsage();
  const t = performance.now();
  for (let s = 0; s < steps; s++) main.prepare(0, s, order);
  prepMs.push(performance.now() - t);
  const u = process.cpuUsage(c);
  prepCpu.push((u.user + u.system) / 1000);
}
console.log(
  `${"prepare() alone, one thread:".padEnd(44)}${rate(steps * batchSize, median(prepMs))} (CPU ${rate(steps * batchSize, median(prepCpu))})`,
);

// 2. epoch() as fast as it can be drained (tensor creation included).
for (const workerThread of [false, true]) {
  const b = new Cifar10Batches(split, { ...options, workerThread });
  const ms: number[] = [];
  for (let r = 0; r < 3; r++) {
    const epoch = b.epoch(r);
    const t = performance.now();
    for (let s = 0; s < steps; s++) {
      const { value } = await epoch.next();
      if (value) tf.dispose([value.x, value.y]);
    }
    ms.push(performance.now() - t);
    await epoch.return();
  }
  console.log(
    `${`epoch() drained, ${b.preparation.where}:`.padEnd(44)}${rate(steps * batchSize, median(ms))}`,
  );
  await b.close();
}

// 3. A training step that blocks the main thread for stepMs (the cpu and wasm backends' steps
// never yield): how long each next() still waits for its batch.
for (const workerThread of [false, true]) {
  const b = new Cifar10Batches(split, { ...options, workerThread });
  const epoch = b.epoch(5);
  const waits: number[] = [];
  for (let s = 0; s < Math.min(steps, 6); s++) {
    const t = performance.now();
    const { value } = await epoch.next();
    if (s > 0) waits.push(performance.now() - t); // the first batch has nothing to overlap
    const until = performance.now() + stepMs;
    while (performance.now() < until) {}
    if (value) tf.dispose([value.x, value.y]);
  }
  await epoch.return();
  console.log(
    `${stepMs} ms blocking steps (${rate(batchSize, stepMs)}), ${b.preparation.where}: next() waits ${median(waits).toFixed(1)} ms per step`,
  );
  await b.close();
}
