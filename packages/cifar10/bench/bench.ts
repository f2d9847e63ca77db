// Speed figures for the README: load time of all 60,000 images and augmentation throughput on
// one core. Run: pnpm --filter @cnnkit/cifar10 bench  (needs ../shared/datasets/ beside the repo)
import "@tensorflow/tfjs-backend-cpu";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import {
  augmentImages,
  type Cifar10Batch,
  Cifar10Batches,
  compose,
  cutout,
  horizontalFlip,
  loadCifar10,
  Rng,
  randomCrop,
} from "../src/index.js";
import { saveBatchGrid } from "../src/pictures.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const ARCHIVE = join(REPO, "..", "shared", "datasets", "cifar-10-binary.tar.gz");
const CACHE = join(REPO, ".cache", "cifar10");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

let lastCpu = 0;
/** Median wall-clock ms of `runs` calls; `lastCpu` gets the median CPU ms (user + system). */
async function time(runs: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  const ms: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
    const u = process.cpuUsage(c);
    cpu.push((u.user + u.system) / 1000);
  }
  lastCpu = median(cpu);
  return median(ms);
}

await tf.setBackend("cpu");
const [load1] = (await import("node:os")).loadavg();
console.log(
  `@cnnkit/cifar10 bench (median of runs; single-thread figures except the worker-thread lines; ${(await import("node:os")).cpus().length} CPUs, load average ${load1!.toFixed(1)})`,
);
console.log(`command: pnpm --filter @cnnkit/cifar10 bench   node ${process.version}\n`);

// Extract once into the repo's .cache/ (not timed).
const data = await loadCifar10({ path: ARCHIVE, cacheDir: CACHE, progress: false });
const bin = join(CACHE, "cifar-10-batches-bin");

const cached = await time(5, () => loadCifar10({ cacheDir: CACHE }));
console.log(
  `load 60,000 images, extracted folder, MD5s already verified: ${cached.toFixed(0)} ms (CPU ${lastCpu.toFixed(0)} ms)`,
);
const fresh = await time(3, async () => {
  const empty = await mkdtemp(join(tmpdir(), "cifar10-bench-"));
  try {
    await loadCifar10({ path: bin, cacheDir: empty });
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});
console.log(
  `load 60,000 images, extracted folder, first load (MD5 of every file): ${fresh.toFixed(0)} ms (CPU ${lastCpu.toFixed(0)} ms)`,
);

const n = 10_000;
const images = data.train.images.subarray(0, n * 3072);
const out = new Uint8Array(images.length);
const pipelines = {
  "randomCrop(4, zero) + horizontalFlip": compose([randomCrop(), horizontalFlip()]),
  "randomCrop(4, reflect) + horizontalFlip + cutout(16)": compose([
    randomCrop({ paddingMode: "reflect" }),
    horizontalFlip(),
    cutout(),
  ]),
};
for (const [name, aug] of Object.entries(pipelines)) {
  const ms = await time(5, () => augmentImages(images, aug, new Rng(0), out));
  console.log(`augment ${name}: ${((n / ms) * 1000).toFixed(0)} images/s`);
}

const batches = new Cifar10Batches(data.train, {
  batchSize: 512,
  augment: [randomCrop(), horizontalFlip()],
});
const order = batches.order(0);
const steps = 20;
const prep = await time(3, () => {
  for (let s = 0; s < steps; s++) batches.prepare(0, s, order);
});
console.log(
  `prepare batches (shuffle + crop + flip + normalise to float32): ${(((steps * 512) / prep) * 1000).toFixed(0)} images/s`,
);
for (const workerThread of [false, true]) {
  const b = new Cifar10Batches(data.train, {
    batchSize: 512,
    augment: [randomCrop(), horizontalFlip()],
    workerThread,
  });
  const ms = await time(3, async () => {
    const epoch = b.epoch(0);
    for (let s = 0; s < steps; s++) {
      const { value } = (await epoch.next()) as IteratorResult<Cifar10Batch>;
      tf.dispose([value.x, value.y]);
    }
    await epoch.return();
  });
  console.log(
    `Cifar10Batches.epoch() incl. tensor creation, ${b.preparation.where}: ${(((steps * 512) / ms) * 1000).toFixed(0)} images/s`,
  );
  // A training step that never yields (as on the cpu backend), as long as preparing a batch:
  // on the main thread the two add up; in the worker they overlap (given a free core).
  const stepMs = (prep / steps) * 1;
  const overlapped = await time(3, async () => {
    const epoch = b.epoch(1);
    for (let s = 0; s < steps; s++) {
      const { value } = (await epoch.next()) as IteratorResult<Cifar10Batch>;
      const until = performance.now() + stepMs;
      while (performance.now() < until) {}
      tf.dispose([value.x, value.y]);
    }
    await epoch.return();
  });
  console.log(
    `  ${steps} steps of a ${stepMs.toFixed(0)} ms blocking "train step" each, ${b.preparation.where}: ${overlapped.toFixed(0)} ms (steps alone: ${(steps * stepMs).toFixed(0)} ms)`,
  );
  await b.close();
}

const grid = join(CACHE, "batch-grid.png");
const epoch = batches.epoch(0);
const first = (await epoch.next()).value as Cifar10Batch;
await saveBatchGrid(first, grid, { normalize: batches.options.normalize, maxImages: 32 });
tf.dispose([first.x, first.y]);
await epoch.return();
console.log(`\nbatch grid of the first augmented batch: ${grid}`);
