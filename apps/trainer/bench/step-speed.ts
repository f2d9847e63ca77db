// `pnpm bench` in apps/trainer: training images/s of the trainer's own step (forward, loss,
// gradients, clipping, AdamW) on real CIFAR-10 batches, for the model sizes the presets use.
// The figures sized the `cpu` and `smoke` presets.
//
//   node --conditions=@cnnkit/source --import tsx bench/step-speed.ts [--backend auto|wasm|cpu]
//        [--widths 16,32,64;32,64,128] [--batch 64] [--steps 5] [--data PATH] [--replicas N]
// --replicas N: data-parallel over N replicas (@cnnkit/train's DataParallel), each on cores / N threads.
import { parseArgs } from "node:util";
import { useBackend } from "@cnnkit/backends";
import { AdamW } from "@cnnkit/optim";
import { trainStep } from "@cnnkit/train";
import { DataParallel, dataParallelStep, threadsPerReplica } from "@cnnkit/train/data-parallel";
import type * as tf from "@tensorflow/tfjs-core";
import { resolveConfig } from "../src/config.js";
import { loadDataset, selectRunData, trainBatches } from "../src/data.js";
import { buildModel, replicaBuilder } from "../src/model.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    backend: { type: "string", default: "auto" },
    widths: { type: "string", default: "8,16,32;16,32,64;32,64,128" },
    batch: { type: "string", default: "64" },
    steps: { type: "string", default: "5" },
    data: { type: "string", default: "../../../shared/datasets/cifar-10-binary.tar.gz" },
    replicas: { type: "string", default: "1" },
    threads: { type: "string" },
    warmup: { type: "string", default: "1" },
  },
});
const replicas = Number(args.replicas);
const selection = await useBackend(args.backend as "auto", {
  threads: args.threads ? Number(args.threads) : threadsPerReplica(replicas),
});
const batchSize = Number(args.batch);
const steps = Number(args.steps);
const warmup = Number(args.warmup);
const base = resolveConfig("cpu", {
  batchSize,
  trainSubset: batchSize * (steps + warmup),
  testSubset: 10,
  dataUrl: args.data,
  dataDir: "../../.cache/cnnkit",
});
const data = selectRunData(await loadDataset(base), base);
console.log(
  `backend ${selection.backend}: ${selection.reason}${replicas > 1 ? `; ${replicas} replicas` : ""}`,
);
console.log(`| widths | batch | train img/s | s per 10k images |`);
console.log(`|---|---:|---:|---:|`);
for (const w of args.widths.split(";")) {
  const config = { ...base, widths: w.split(",").map(Number) };
  const model = buildModel(config);
  const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 5e-4 });
  const batches = trainBatches(data.train, config);
  const group =
    replicas > 1
      ? await DataParallel.start(model, { replicas, build: replicaBuilder(config) })
      : null;
  let seen = 0;
  let start = 0;
  let i = 0;
  for await (const b of batches.epoch(0)) {
    // The first steps (kernel setup, weight packing, V8 tiering the wasm up) are not measured.
    if (i === warmup) start = performance.now();
    const options = { gradClip: 1, labelSmoothing: 0.1 };
    const y = b.y as tf.Tensor1D;
    if (group) await dataParallelStep(group, optimizer, b.x, y, options);
    else await trainStep(model, optimizer, b.x, y, options);
    b.x.dispose();
    b.y.dispose();
    if (i >= warmup) seen += b.labels.length;
    i++;
  }
  const ips = seen / ((performance.now() - start) / 1000);
  console.log(`| ${w} | ${batchSize} | ${ips.toFixed(1)} | ${(10_000 / ips).toFixed(0)} |`);
  await group?.close();
  optimizer.dispose();
  model.dispose();
}
console.log(
  "\nnode --conditions=@cnnkit/source --import tsx bench/step-speed.ts " +
    process.argv.slice(2).join(" "),
);
process.exit(0);
