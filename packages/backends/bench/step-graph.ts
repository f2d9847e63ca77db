// Where onnxRuntimeTrainingStep's session spends a step, per ONNX Runtime operator (its
// profiler), beside the unprofiled session time: the profile behind docs/performance.md's
// "The whole training step as one ONNX Runtime session".
//   node --conditions=@cnnkit/source --import tsx bench/step-graph.ts [--widths 16,32,64]
//        [--batch 64] [--threads 2] [--runs 10] [--top 12] [--model small|fast]
// --model fast: the fast recipe's fastResNet (e.g. --widths 24,96,96 --batch 1024).
// Random weights and images (the times do not depend on the values); the first runs are left
// out (the memory arena's growth).
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fastResNet, smallResNet } from "@cnnkit/resnet";
import "@tensorflow/tfjs-backend-cpu"; // the model's initial weights
import { loadOnnxRuntime } from "../src/onnxruntime/load.js";
import { encodeOnnxModel } from "../src/onnxruntime/onnx-model.js";
import { probeBlockSize } from "../src/onnxruntime/probe-block-size.js";
import { type GraphModel, trainingGraph } from "../src/onnxruntime/training-graph.js";
import { benchSession, readProfile } from "./ort-profile.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    widths: { type: "string", default: "16,32,64" },
    batch: { type: "string", default: "64" },
    threads: { type: "string", default: "2" },
    runs: { type: "string", default: "10" },
    top: { type: "string", default: "12" },
    model: { type: "string", default: "small" },
  },
});
const ort = loadOnnxRuntime();
const threads = Number(args.threads);
const batch = Number(args.batch);
const runs = Number(args.runs);
const blockSize = probeBlockSize(ort);
const widths = args.widths.split(",").map(Number);
const model =
  args.model === "fast" ? fastResNet({ widths, seed: 0 }) : smallResNet({ widths, seed: 0 });
const plan = trainingGraph(model as unknown as GraphModel, { batchSize: batch, blockSize });
const bytes = encodeOnnxModel(plan.graph);
const random = (n: number, scale: number) =>
  Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale);
const [n, h, w, c] = plan.inputShape;
const targets = new Float32Array(n * plan.classes);
for (let i = 0; i < n; i++) targets[i * plan.classes + (i % plan.classes)] = 1;
const feeds: Record<string, unknown> = {
  x: new ort.Tensor("float32", random(n * h * w * c, 1), [n, h, w, c]),
  targets: new ort.Tensor("float32", targets, [n, plan.classes]),
};
for (const f of plan.weights) {
  const size = f.variable.shape.reduce((a, b) => a * b, 1);
  const fanIn = f.variable.shape.length > 1 ? size / (f.variable.shape.at(-1) as number) : 1;
  feeds[f.input] = new ort.Tensor("float32", random(size, 1 / Math.sqrt(fanIn)), [
    ...f.variable.shape,
  ]);
}
const fetches = Object.fromEntries(plan.graph.outputs.map((o) => [o.name, null]));
const dir = mkdtempSync(path.join(os.tmpdir(), "step-graph-"));

// Unprofiled: the step's session as onnxRuntimeTrainingStep runs it.
const plain = benchSession(ort, bytes, { threads });
for (let r = 0; r < 3; r++) plain.run(feeds, fetches, {});
const t0 = performance.now();
for (let r = 0; r < runs; r++) plain.run(feeds, fetches, {});
const unprofiled = (performance.now() - t0) / runs;
plain.dispose?.();

const s = benchSession(ort, bytes, { threads, profileDir: dir });
const warm = 3;
for (let r = 0; r < warm + runs; r++) s.run(feeds, fetches, {});
s.endProfiling();
s.dispose?.();
const byOp = new Map<string, { ms: number; count: number }>();
const byShape = new Map<string, number>();
for (const e of readProfile(dir, warm, runs)) {
  const entry = byOp.get(e.op) ?? { ms: 0, count: 0 };
  entry.ms += e.ms;
  entry.count += 1 / runs;
  byOp.set(e.op, entry);
  const key = `${e.op} -> [${e.shape.join(",")}]`;
  byShape.set(key, (byShape.get(key) ?? 0) + e.ms);
}
rmSync(dir, { recursive: true, force: true });
const total = [...byOp.values()].reduce((a, b) => a + b.ms, 0);
console.log(
  `onnxruntime-node ${ort.version}, ${threads} threads, NCHWc block ${blockSize}; ${args.model === "fast" ? "fastResNet" : "SmallResNet"} ${widths.join("/")}, batch ${batch}, ${plan.graph.nodes.length} nodes`,
);
console.log(
  `session.run unprofiled: ${unprofiled.toFixed(1)} ms per step (mean of ${runs}); profiled operators: ${total.toFixed(1)} ms`,
);
console.log("per operator type, ms per step (nodes):");
for (const [op, { ms, count }] of [...byOp].sort((a, b) => b[1].ms - a[1].ms)) {
  console.log(`  ${op.padEnd(22)} ${ms.toFixed(1).padStart(8)}  (${Math.round(count)})`);
}
console.log(`the ${args.top} costliest operator and output-shape pairs, ms per step:`);
for (const [key, ms] of [...byShape].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top))) {
  console.log(`  ${ms.toFixed(1).padStart(8)}  ${key}`);
}
