// Draws the example pictures shown in README.md into docs/. Run from packages/viz:
//   pnpm docs   (node --conditions=@cnnkit/source --import tsx scripts/make-docs.ts)
// Images are the first CIFAR-10 test images, read from ../../../shared/datasets (the repo's
// sibling shared/ folder); predictions, counts and curves are made up for illustration and
// say so in their titles, since drawing is all this package does.
import { createReadStream, existsSync } from "node:fs";
import { createGunzip } from "node:zlib";
import {
  barChart,
  heatmap,
  heatToImage,
  imageGrid,
  lineChart,
  overlayHeatmap,
  type RgbImage,
  RIGHT_COLOR,
  savePicture,
  WRONG_COLOR,
} from "../src/index.js";

const CLASSES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];
const archive = new URL("../../../../shared/datasets/cifar-10-binary.tar.gz", import.meta.url);
const out = (name: string) => new URL(`../docs/${name}`, import.meta.url).pathname;

/** Streams the archive until `test_batch.bin` and returns its first `count` records as HWC images. */
async function firstTestImages(count: number): Promise<{ image: RgbImage; label: number }[]> {
  if (!existsSync(archive)) throw new Error(`${archive.pathname}: CIFAR-10 archive not found`);
  const want = count * 3073;
  let pending = Buffer.alloc(0);
  let skip = 0;
  let reading = false;
  let collected = Buffer.alloc(0);
  const stream = createReadStream(archive).pipe(createGunzip());
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    pending = Buffer.concat([pending, chunk]);
    while (true) {
      if (reading) {
        collected = Buffer.concat([collected, pending.subarray(0, want - collected.length)]);
        pending = Buffer.alloc(0);
        if (collected.length >= want) {
          stream.destroy();
          return decode(collected, count);
        }
        break;
      }
      if (skip > 0) {
        const n = Math.min(skip, pending.length);
        pending = pending.subarray(n);
        skip -= n;
        if (skip > 0) break;
      }
      if (pending.length < 512) break;
      const header = pending.subarray(0, 512);
      pending = pending.subarray(512);
      const name = header.toString("latin1", 0, 100).replace(/\0.*$/s, "");
      const size = Number.parseInt(
        header.toString("latin1", 124, 136).replace(/\0.*$/s, "").trim() || "0",
        8,
      );
      if (name.endsWith("test_batch.bin")) reading = true;
      else skip = Math.ceil(size / 512) * 512;
    }
  }
  throw new Error("test_batch.bin not found in the archive");
}

function decode(bytes: Buffer, count: number) {
  return Array.from({ length: count }, (_, k) => {
    const record = bytes.subarray(k * 3073, (k + 1) * 3073);
    const data = new Uint8Array(32 * 32 * 3);
    // CHW planes → HWC.
    for (let p = 0; p < 1024; p++)
      for (let c = 0; c < 3; c++) data[p * 3 + c] = record[1 + c * 1024 + p]!;
    return { image: { data, width: 32, height: 32 } as RgbImage, label: record[0]! };
  });
}

/** A deterministic PRNG so the made-up curves are the same on every run. */
function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const samples = await firstTestImages(16);
const rand = mulberry32(7);
// Made-up predictions: right for most, a plausible confusion for a few.
const predicted = samples.map(({ label }, k) =>
  k % 5 === 3 ? [5, 9, 0, 3, 7, 1, 2, 4, 8, 6][label]! : label,
);
await savePicture(
  imageGrid({
    images: samples.map((s) => s.image),
    columns: 8,
    captions: samples.map(
      (s, k) =>
        `${CLASSES[s.label]}\n→ ${CLASSES[predicted[k]!]} ${(0.55 + 0.44 * rand()).toFixed(2)}`,
    ),
    borders: samples.map((s, k) => (predicted[k] === s.label ? RIGHT_COLOR : WRONG_COLOR)),
    title: "CIFAR-10 test images: true → predicted (predictions made up)",
  }),
  out("image-grid.png"),
);

const counts = CLASSES.map((_, r) =>
  CLASSES.map((_, c) =>
    r === c
      ? 0
      : Math.floor(rand() ** 3 * 40 + (r === 3 && c === 5 ? 110 : r === 5 && c === 3 ? 90 : 0)),
  ),
);
counts.forEach((row, r) => {
  row[r] = 1000 - row.reduce((a, b) => a + b, 0);
});
await savePicture(
  heatmap({
    values: counts.map((row) => row.map((v) => v / 1000)),
    rowLabels: CLASSES,
    columnLabels: CLASSES,
    cellText: (r, c) => `${counts[r]![c]}\n${(counts[r]![c]! / 10).toFixed(1)}%`,
    min: 0,
    max: 1,
    title: "Confusion matrix (made-up counts)",
    xLabel: "predicted class",
    yLabel: "true class",
  }),
  out("heatmap.png"),
);

const steps = 1950;
const train = Array.from(
  { length: steps },
  (_, i) => 1.9 * Math.exp(-i / 450) + 0.35 + 0.18 * (rand() - 0.5),
);
const epochs = Array.from({ length: 10 }, (_, e) => (e + 1) * 195);
await savePicture(
  lineChart({
    series: [
      { name: "train loss", y: train },
      {
        name: "test loss",
        x: epochs,
        y: epochs.map((s) => 1.7 * Math.exp(-s / 500) + 0.42),
        dashed: true,
      },
    ],
    title: "Loss (synthetic curves, smoothing 0.9)",
    smoothing: 0.9,
    xLabel: "step",
    yLabel: "cross-entropy",
  }),
  out("line-chart.png"),
);
// OneCycleLR's cosine shape, computed here: the log axis shows the warm-up and the long tail.
const lr = Array.from({ length: steps }, (_, i) => {
  const p = i / (steps - 1);
  const cos = (a: number, b: number, t: number) => b + ((a - b) * (1 + Math.cos(Math.PI * t))) / 2;
  return p < 0.3 ? cos(4e-4, 1e-2, p / 0.3) : cos(1e-2, 4e-8, (p - 0.3) / 0.7);
});
await savePicture(
  lineChart({
    series: [{ name: "learning rate", y: lr }],
    title: "OneCycleLR, max lr 0.01",
    xLabel: "step",
    logY: true,
    height: 300,
  }),
  out("line-chart-log.png"),
);

await savePicture(
  barChart({
    labels: CLASSES,
    values: counts.map((row, r) => row[r]! / 1000),
    yRange: [0, 1],
    title: "Per-class accuracy (made-up counts)",
    yLabel: "accuracy",
  }),
  out("bar-chart.png"),
);

// A made-up 8×8 "attention" blob over the first images, as Grad-CAM would give.
const blob = (cx: number, cy: number) =>
  Array.from({ length: 8 }, (_, y) =>
    Array.from({ length: 8 }, (_, x) => Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 6)),
  );
const first = samples.slice(0, 4);
await savePicture(
  imageGrid({
    images: [
      ...first.map((s) => s.image),
      ...first.map((s, k) => overlayHeatmap(s.image, blob(2 + k, 3 + (k % 2)))),
      ...first.map((_, k) => heatToImage(blob(2 + k, 3 + (k % 2)))),
    ],
    columns: 4,
    captions: [
      ...first.map((s) => CLASSES[s.label]!),
      ...first.map(() => "overlayHeatmap"),
      ...first.map(() => "heatToImage 8×8"),
    ],
    title: "Heat overlays (made-up heat)",
  }),
  out("overlay.png"),
);
console.log("wrote docs/*.png");
