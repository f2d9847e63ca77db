// Throughput of the writer on this machine: scalars, weight histograms, PNG images, and the
// reader. Run: pnpm --filter @cnnkit/tensorboard bench
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemorySink, readEvents, SummaryWriter } from "../src/index.js";

function time(label: string, unit: string, count: number, body: () => void): void {
  body(); // warm-up
  const start = performance.now();
  body();
  const ms = performance.now() - start;
  console.log(
    `${label.padEnd(44)} ${(count / (ms / 1000)).toFixed(0).padStart(10)} ${unit}/s  (${ms.toFixed(1)} ms)`,
  );
}

const sinkWriter = () => new SummaryWriter("bench", { sink: new MemorySink(), flushIntervalMs: 0 });

time("scalar() into memory, 100k", "scalars", 100_000, () => {
  const w = sinkWriter();
  for (let i = 0; i < 100_000; i++) w.scalar("train/loss", 1 / (i + 1), i);
  void w.close();
});

// ResNet-20's largest kernel: 3×3×64×64 = 36 864 weights; the whole model has ~270k.
const weights = Float32Array.from({ length: 270_000 }, (_, i) => Math.sin(i) * 0.1);
time("histogram() of 270k weights (ResNet-20), x10", "weights", 2_700_000, () => {
  const w = sinkWriter();
  for (let i = 0; i < 10; i++) w.histogram("weights/all", weights, i);
  void w.close();
});

// An 8×8 grid of CIFAR-10 images: 256×256 RGB.
const grid = {
  data: Uint8Array.from({ length: 256 * 256 * 3 }, (_, i) => (i * 7) % 251),
  width: 256,
  height: 256,
};
time("image() 256×256 RGB (PNG-encoded), x20", "images", 20, () => {
  const w = sinkWriter();
  for (let i = 0; i < 20; i++) w.image("samples", grid, i);
  void w.close();
});

const dir = mkdtempSync(join(tmpdir(), "cnnkit-tb-bench-"));
const fileWriter = new SummaryWriter(dir, { flushIntervalMs: 0 });
for (let i = 0; i < 100_000; i++) fileWriter.scalar("train/loss", 1 / (i + 1), i);
await fileWriter.close();
const bytes = statSync(fileWriter.path).size;
const start = performance.now();
const { events } = await readEvents(fileWriter.path);
const ms = performance.now() - start;
console.log(
  `${"readEvents() 100k scalar events".padEnd(44)} ${(events.length / (ms / 1000)).toFixed(0).padStart(10)} events/s  (${ms.toFixed(1)} ms, ${(bytes / 1e6).toFixed(1)} MB)`,
);
rmSync(dir, { recursive: true, force: true });
console.log(`\nnode ${process.version}; command: pnpm --filter @cnnkit/tensorboard bench`);
