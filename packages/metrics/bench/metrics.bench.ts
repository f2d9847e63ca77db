// Benchmark: 10,000 predictions × 10 classes through every metric.
// Run: cd packages/metrics && pnpm bench   (node --conditions=@cnnkit/source --import tsx bench/metrics.bench.ts)
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { ClassificationMetrics, crossEntropy, toMarkdown } from "../src/index.js";

const N = 10_000;
const K = 10;
const BATCH = 100;
const REPEATS = 15;

let seed = 12345;
const rand = () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
};
const labels = Int32Array.from({ length: N }, () => Math.floor(rand() * K));
const logits = new Float32Array(N * K);
for (let i = 0; i < N; i++) {
  for (let c = 0; c < K; c++) logits[i * K + c] = (rand() - 0.5) * 8 + (c === labels[i] ? 3 : 0);
}
const indices = Int32Array.from({ length: N }, (_, i) => i);

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

const options = { numClasses: K, topK: [1, 5], calibrationBins: 15, worstPerClass: 8 };
const rows: [string, number][] = [];

rows.push([
  `update, Float32Array, ${N / BATCH} batches of ${BATCH}`,
  median(() => {
    const m = new ClassificationMetrics(options);
    for (let s = 0; s < N; s += BATCH) {
      m.update(
        logits.subarray(s * K, (s + BATCH) * K),
        labels.subarray(s, s + BATCH),
        indices.subarray(s, s + BATCH),
      );
    }
  }),
]);
rows.push([
  `update, Float32Array, one batch of ${N}`,
  median(() => {
    new ClassificationMetrics(options).update(logits, labels, indices);
  }),
]);

await tf.setBackend("cpu");
const logitTensors: tf.Tensor2D[] = [];
const labelTensors: tf.Tensor1D[] = [];
for (let s = 0; s < N; s += BATCH) {
  logitTensors.push(tf.tensor2d(logits.subarray(s * K, (s + BATCH) * K), [BATCH, K]));
  labelTensors.push(tf.tensor1d(labels.subarray(s, s + BATCH), "int32"));
}
rows.push([
  `update, tf tensors (cpu backend), ${N / BATCH} batches of ${BATCH}`,
  median(() => {
    const m = new ClassificationMetrics(options);
    logitTensors.forEach((t, b) => {
      m.update(t, labelTensors[b]!, indices.subarray(b * BATCH, (b + 1) * BATCH));
    });
  }),
]);
tf.dispose([...logitTensors, ...labelTensors]);

const full = new ClassificationMetrics(options).update(logits, labels, indices);
rows.push(["result()", median(() => full.result())]);
const result = full.result();
rows.push(["JSON.stringify(result)", median(() => JSON.stringify(result))]);
rows.push(["toMarkdown(result)", median(() => toMarkdown(result))]);
rows.push([
  `crossEntropy alone, ${N} rows`,
  median(() => crossEntropy(logits, labels, { numClasses: K })),
]);

console.log(
  `@cnnkit/metrics: ${N} predictions × ${K} classes, median of ${REPEATS} runs, Node ${process.version}`,
);
for (const [name, ms] of rows) console.log(`  ${ms.toFixed(2).padStart(8)} ms  ${name}`);
console.log(
  `  (top-1 ${(result.accuracy * 100).toFixed(2)}%, ECE ${(result.calibration.ece * 100).toFixed(2)}% on the synthetic logits)`,
);
console.log("reproduce: cd packages/metrics && pnpm bench");
