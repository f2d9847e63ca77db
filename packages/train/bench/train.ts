// `pnpm bench` in packages/train: images/s for training and inference of SmallResNet (64/128/256)
// and its narrow variants (16/32/64, 8/16/32), and of the fast recipe's fastResNet at the trainer's
// `cpu` and `cpu-long` presets' widths and batch sizes (`--models fast,fast-long`), on every backend that loads (wasm with 1 thread and with all
// cores, wasm and cpu with their convolutions on onnxruntime-node, plain cpu, and the first of
// these as data-parallel replicas, one per core: DataParallel), and the same model in PyTorch
// (Debian's /usr/bin/python3 with torch) in the same run, with the ratio tfjs/PyTorch. Where the
// convolutions run on ONNX Runtime, inference is measured twice: tfjs layer by layer ("infer") and
// the whole model as one ONNX Runtime session ("inferG": @cnnkit/export's onnxRuntimeForward, as
// the trainer evaluates); the inference ratio takes the faster. Training likewise: tfjs layer by
// layer ("train") and the whole step as one session ("trainG": @cnnkit/backends'
// onnxRuntimeTrainingStep, then the same tf.train optimizer), where the model's layers allow.
// Each tfjs configuration runs in its own process, since the wasm thread count is fixed when the
// backend first starts. Every tfjs step is the same: classifierGradients (forward, softmax
// cross-entropy, backward), then SGD with momentum; PyTorch's is the same in torch.
//
//   node --conditions=@cnnkit/source --import tsx bench/train.ts [--batch 64] [--steps 3]
//        [--warmup 3] [--backends wasm+onnxruntime,cpu+onnxruntime,wasm,cpu] [--wasm-threads 1,2]
//        [--replicas 2] [--models small,narrow,tiny,fast,fast-long] [--cpu-batch 4] [--no-torch]
//        [--rounds 1]
//
// --batch is the SmallResNets'; the fast nets run at their presets' batch sizes (1,024 and 512),
// the PyTorch side with apps/trainer/bench/torch_fast.py's twin of fastResNet.
//
// --warmup: untimed steps first (kernel setup, weight packing, and V8 tiering the wasm up, which
// makes the first ~15 steps of a small net up to 1.5x slower). --replicas N (default: the cores;
// 1 = none): the first backend of --backends again as N replicas of the model, 1 thread each.
//
// This VM's speed drifts by ±20% within minutes, which would tilt a ratio between runs made minutes
// apart: `--rounds N` runs every configuration (PyTorch included) N times, interleaved, and
// reports each one's best round.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  type BackendChoice,
  BackendError,
  onnxRuntimeTrainingStep,
  useBackend,
} from "@cnnkit/backends";
import { onnxRuntimeForward } from "@cnnkit/export";
import { fastResNet, smallResNet, summarize } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { DataParallel, threadsPerReplica } from "../src/data-parallel.js";
import { classifierGradients } from "../src/index.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    batch: { type: "string", default: "64" },
    steps: { type: "string", default: "3" },
    warmup: { type: "string", default: "3" },
    replicas: { type: "string", default: String(os.availableParallelism()) },
    backends: { type: "string", default: "wasm+onnxruntime,cpu+onnxruntime,wasm,cpu" },
    models: { type: "string", default: "small,narrow,tiny" },
    "cpu-batch": { type: "string", default: "4" },
    "wasm-threads": { type: "string", default: `1,${os.availableParallelism()}` },
    "no-torch": { type: "boolean", default: false },
    rounds: { type: "string", default: "1" },
    child: { type: "boolean", default: false },
    backend: { type: "string", default: "wasm" },
    "child-replicas": { type: "string", default: "1" },
    threads: { type: "string", default: "1" },
  },
});
const BATCH = Number(args.batch);
const STEPS = Number(args.steps);
const WARMUP = Number(args.warmup);
/** What each `--models` name builds: the builder's export, its widths, a batch of its own. */
interface ModelSpec {
  build: "smallResNet" | "fastResNet";
  widths: number[];
  batch?: number;
}
const MODELS: Record<string, ModelSpec> = {
  small: { build: "smallResNet", widths: [64, 128, 256] },
  narrow: { build: "smallResNet", widths: [16, 32, 64] },
  // The trainer's old `cpu` preset.
  tiny: { build: "smallResNet", widths: [8, 16, 32] },
  // The fast recipe's net at the trainer's `cpu` and `cpu-long` presets.
  fast: { build: "fastResNet", widths: [24, 96, 96], batch: 1024 },
  "fast-long": { build: "fastResNet", widths: [32, 128, 128], batch: 512 },
};
const BUILDERS = { smallResNet, fastResNet };

/**
 * " (family F model M)" from /proc/cpuinfo, where there is one: VMs of one name differ in CPU
 * generation (an AMD "EPYC" was a Zen 4, family 25, one day and a Zen 5, family 26, the next),
 * and both sides' speeds, PyTorch's most, move with it.
 */
function cpuGeneration(): string {
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const family = /^cpu family\s*:\s*(\d+)/m.exec(info)?.[1];
    const model = /^model\s*:\s*(\d+)/m.exec(info)?.[1];
    return family && model ? ` (family ${family} model ${model})` : "";
  } catch {
    return "";
  }
}

function modelSpec(name: string): ModelSpec {
  const spec = MODELS[name];
  if (!spec) {
    throw new Error(`--models: expected one of ${Object.keys(MODELS).join(", ")}, got ${name}`);
  }
  return spec;
}

interface Row {
  runtime: string;
  model: string;
  batch: number;
  train: number;
  /**
   * Training with the whole step as one ONNX Runtime session (@cnnkit/backends'
   * `onnxRuntimeTrainingStep`): `null` where not measured (other backends, replicas, or a model
   * with layers it does not write).
   */
  trainGraph: number | null;
  /** `null` where not measured (replicas: inference is one model's, the row above). */
  infer: number | null;
  /**
   * Inference with the whole model as one ONNX Runtime session (@cnnkit/export's
   * `onnxRuntimeForward`, which the trainer's evaluation uses when the convolutions run on ONNX
   * Runtime): `null` on the other backends.
   */
  inferGraph: number | null;
  /** Forward multiply-adds per image (@cnnkit/resnet's `summarize`); absent on PyTorch's rows. */
  multiplyAdds?: number;
}

/** Seconds for `steps` calls of `f` after `warmup` untimed ones. */
async function timeIt(warmup: number, steps: number, f: () => Promise<void>): Promise<number> {
  for (let i = 0; i < warmup; i++) await f();
  const t = performance.now();
  for (let i = 0; i < steps; i++) await f();
  return (performance.now() - t) / 1000;
}

async function measure(
  model: LayersModel,
  batch: number,
  steps: number,
  warmup: number,
  replicas: DataParallel | null,
  graphThreads: number | null,
): Promise<{ train: number; trainGraph: number | null; infer: number; inferGraph: number | null }> {
  const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, "float32", 1);
  const y = tf.tensor1d(
    Array.from({ length: batch }, (_, i) => i % 10),
    "int32",
  );
  const optimizer: tf.Optimizer = tf.train.momentum(0.01, 0.9);
  const step = async () => {
    if (replicas) {
      const { grads } = await replicas.gradients(x, y);
      optimizer.applyGradients(grads);
      tf.dispose(Object.values(grads));
      return;
    }
    const { value, correct, grads } = classifierGradients(model, x, y);
    optimizer.applyGradients(grads);
    await value.data();
    tf.dispose([value, correct, ...Object.values(grads)]);
  };
  const trainS = await timeIt(warmup, steps, step);
  let trainGraph: number | null = null;
  if (graphThreads !== null && !replicas) {
    // The same step as one ONNX Runtime session, the update by a tf.train optimizer of its own.
    const graph = await onnxRuntimeTrainingStep(model, {
      batchSize: batch,
      threads: graphThreads,
    }).catch((err) => {
      if (BackendError.isInstance(err) && err.code === "unsupported_layer") return null;
      throw err;
    });
    if (graph) {
      const graphOptimizer = tf.train.momentum(0.01, 0.9);
      const s = await timeIt(warmup, steps, async () => {
        await graph.step(graphOptimizer, x, y);
      });
      trainGraph = (batch * steps) / s;
      graph.dispose();
      graphOptimizer.dispose();
    }
  }
  // Inference is one model's (replicas split training batches only).
  const infer = async () => {
    const out = tf.tidy(() => model.apply(x, { training: false }) as tf.Tensor);
    await out.data();
    out.dispose();
  };
  const inferS = replicas ? Number.NaN : await timeIt(Math.min(warmup, 1), steps, infer);
  let inferGraph: number | null = null;
  if (graphThreads !== null && !replicas) {
    // As an evaluation runs it: the session made from the weights (not timed: ~0.1-0.3 s once per
    // evaluation of 10,000 images), then tfjs batches in and logits tensors out.
    const forward = await onnxRuntimeForward(model, { threads: graphThreads });
    const graphS = await timeIt(Math.max(warmup, 3), steps, async () => {
      (await forward.logits(x as tf.Tensor4D)).dispose();
    });
    await forward.dispose();
    inferGraph = (batch * steps) / graphS;
  }
  optimizer.dispose();
  tf.dispose([x, y]);
  return {
    train: (batch * steps) / trainS,
    trainGraph,
    infer: (batch * steps) / inferS,
    inferGraph,
  };
}

function torchRow(model: string, threads: number): Row | string {
  const { build, widths, batch = BATCH } = modelSpec(model);
  const script = fileURLToPath(new URL("./torch_train.py", import.meta.url));
  const res = spawnSync(
    "/usr/bin/python3",
    [
      script,
      "--model",
      build === "fastResNet" ? "fast" : "small",
      "--widths",
      widths.join(","),
      "--batch",
      String(batch),
      "--steps",
      String(STEPS),
      "--warmup",
      String(WARMUP),
      "--threads",
      String(threads),
    ],
    { encoding: "utf8" },
  );
  if (res.status !== 0)
    return `PyTorch skipped: ${(res.stderr || String(res.error)).trim().split("\n").pop()}`;
  const r = JSON.parse(res.stdout.trim().split("\n").pop() as string) as {
    train_img_s: number;
    infer_img_s: number;
    torch: string;
    native: { blas: string[]; cpu: string };
  };
  notePyTorchLibraries(r.native);
  return {
    runtime: `pytorch ${r.torch} (${threads} thr)`,
    model,
    batch,
    train: r.train_img_s,
    infer: r.infer_img_s,
    trainGraph: null,
    inferGraph: null,
  };
}

/**
 * Says once what PyTorch's figures rest on (its BLAS, the CPU's SIMD), and warns when its BLAS is
 * Debian's reference one: the fresh-machine install of python3-torch pulls libblas3 alone.
 */
function notePyTorchLibraries(native: { blas: string[]; cpu: string }): void {
  notes.add(`PyTorch's BLAS: ${native.blas.join(", ") || "none loaded"}; CPU: ${native.cpu}`);
  if (native.blas.length > 0 && !native.blas.some((lib) => /openblas|mkl|blis/i.test(lib)))
    notes.add(
      "PyTorch runs on the reference BLAS (Debian's libblas3): apt-get install libopenblas0-pthread for a fair comparison",
    );
}

async function child(): Promise<void> {
  const [backendName, ort] = (args.backend as string).split("+");
  const replicas = Number(args["child-replicas"]);
  const chosen = await useBackend(backendName as BackendChoice, {
    threads: Number(args.threads),
    onnxruntime: ort === "onnxruntime",
  });
  // tfjs's cpu convolutions are plain JS loops: a smaller batch keeps the run in minutes.
  const cpu = chosen.backend === "cpu" && chosen.onnxruntime == null;
  const out: Row[] = [];
  for (const name of args.models.split(",")) {
    const spec = modelSpec(name);
    const batch = cpu ? Number(args["cpu-batch"]) : (spec.batch ?? BATCH);
    const { widths } = spec;
    const model = BUILDERS[spec.build]({ widths, seed: 0 });
    const macs = summarize(model).multiplyAdds;
    // The workers build the model with @cnnkit/resnet's code too (its layers are faster
    // subclasses of tfjs's, which the model's JSON would not bring back).
    const build = {
      module: import.meta.resolve("@cnnkit/resnet"),
      export: spec.build,
      args: [{ widths, seed: 0 }],
    };
    const group = replicas > 1 ? await DataParallel.start(model, { replicas, build }) : null;
    const graphThreads = chosen.onnxruntime ? chosen.onnxruntime.threads : null;
    const r = await measure(model, batch, cpu ? 1 : STEPS, cpu ? 1 : WARMUP, group, graphThreads);
    await group?.close();
    model.dispose();
    const threads = chosen.onnxruntime
      ? `+ort, ${chosen.onnxruntime.threads} thr`
      : chosen.backend === "wasm"
        ? `, ${chosen.reason.match(/(\d+) threads/)?.[1] ?? 1} thr`
        : "";
    const copies = group ? ` x${group.size}` : "";
    out.push({
      runtime: `tfjs ${chosen.backend}${threads}${copies}`,
      model: name,
      batch,
      ...r,
      multiplyAdds: macs,
    });
  }
  console.log(JSON.stringify(out));
  process.exit(0); // wasm's pthread workers would keep the process alive
}

if (args.child) await child();

const ROUNDS = Number(args.rounds);

/** Every tfjs process to run: a backend, its threads, and its replicas. */
function configurations(): { backend: string; threads: string; replicas: number }[] {
  const out: { backend: string; threads: string; replicas: number }[] = [];
  const backends = args.backends.split(",");
  for (const backend of backends) {
    // Plain wasm at each thread count; ONNX Runtime with all cores; plain cpu is single-threaded.
    const counts =
      backend === "wasm"
        ? args["wasm-threads"].split(",")
        : backend.endsWith("+onnxruntime")
          ? [String(os.availableParallelism())]
          : ["1"];
    for (const threads of counts) out.push({ backend, threads, replicas: 1 });
  }
  const replicas = Number(args.replicas);
  if (replicas > 1 && backends[0]) {
    out.push({ backend: backends[0], threads: String(threadsPerReplica(replicas)), replicas });
  }
  return out;
}
const all: (Row & { round: number })[] = [];
const notes = new Set<string>();
const self = fileURLToPath(import.meta.url);
for (let round = 1; round <= ROUNDS; round++) {
  for (const { backend, threads, replicas } of configurations()) {
    {
      const res = spawnSync(
        process.execPath,
        [
          ...process.execArgv,
          self,
          "--child",
          "--backend",
          backend,
          "--threads",
          threads,
          "--child-replicas",
          String(replicas),
          "--warmup",
          String(WARMUP),
          "--models",
          args.models,
          "--batch",
          String(BATCH),
          "--steps",
          String(STEPS),
          "--cpu-batch",
          args["cpu-batch"],
        ],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
      );
      const last = res.stdout.trim().split("\n").pop() ?? "";
      if (res.status === 0 && last.startsWith("["))
        all.push(...(JSON.parse(last) as Row[]).map((r) => ({ ...r, round })));
      else
        notes.add(
          `${backend} (${threads} thr): ${
            (res.stderr || res.stdout)
              .trim()
              .split("\n")
              .find((l) => l.includes("Error")) ?? `exit ${res.status}`
          }`,
        );
      console.error(
        `done: ${backend} ${threads} thread(s)${replicas > 1 ? ` x${replicas} replicas` : ""}, round ${round}/${ROUNDS}`,
      );
    }
  }
  if (!args["no-torch"]) {
    for (const name of args.models.split(",")) {
      for (const threads of [...new Set([1, os.availableParallelism()])]) {
        const r = torchRow(name, threads);
        if (typeof r === "string") notes.add(r);
        else all.push({ ...r, round });
      }
    }
  }
}
/** The larger of two figures, where `null` (not measured: NaN through JSON) is none. */
function larger(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  return b === null ? a : Math.max(a, b);
}
// Each configuration's best round, in first-seen order.
const rows: Row[] = [];
for (const r of all) {
  const seen = rows.find((t) => t.runtime === r.runtime && t.model === r.model);
  if (!seen)
    rows.push({
      runtime: r.runtime,
      model: r.model,
      batch: r.batch,
      train: r.train,
      trainGraph: r.trainGraph,
      infer: r.infer,
      inferGraph: r.inferGraph,
      ...(r.multiplyAdds ? { multiplyAdds: r.multiplyAdds } : {}),
    });
  else {
    // Each column's best round on its own.
    seen.train = Math.max(seen.train, r.train);
    seen.trainGraph = larger(seen.trainGraph, r.trainGraph);
    seen.infer = larger(seen.infer, r.infer);
    seen.inferGraph = larger(seen.inferGraph, r.inferGraph);
  }
}

const fmt = (v: number | null) =>
  (v === null || !Number.isFinite(v) ? "-" : v.toFixed(v < 10 ? 2 : 1)).padStart(8);
console.log(
  `Training/inference, images/s (SmallResNets: batch ${BATCH}; fast nets: their presets' batch; ${STEPS} timed steps after ${WARMUP} warm-up; cpu: batch ${args["cpu-batch"]}, 1 step; best of ${ROUNDS} round${ROUNDS === 1 ? "" : "s"}; xN: N data-parallel replicas)`,
);
const load = os
  .loadavg()
  .map((l) => l.toFixed(2))
  .join(" ");
// glibc's malloc settings change tfjs's speed with ONNX Runtime (@cnnkit/backends' glibcMallocAdvice).
const tunables = process.env.GLIBC_TUNABLES ? `; GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES}` : "";
console.log(
  `host: ${os.cpus()[0]?.model}${cpuGeneration()} x${os.availableParallelism()}, load average ${load}${tunables}`,
);
// Against PyTorch's best thread count: on a loaded machine its OpenMP threads can lose to one thread.
console.log(
  `${"runtime".padEnd(28)}${"model".padEnd(8)}${"batch".padStart(6)}${"train".padStart(8)}${"trainG".padStart(8)}${"infer".padStart(8)}${"inferG".padStart(8)}  train, trainG, infer / best PyTorch's`,
);
for (const r of rows) {
  const torch = rows.filter((t) => t.runtime.startsWith("pytorch") && t.model === r.model);
  const bestTrain = Math.max(...torch.map((t) => t.train));
  const bestInfer = Math.max(...torch.map((t) => t.infer ?? Number.NaN).filter(Number.isFinite));
  // Our inference: the faster of tfjs layer by layer and the whole graph on ONNX Runtime.
  const ours = Math.max(
    ...[r.infer, r.inferGraph].filter((v): v is number => v !== null && Number.isFinite(v)),
  );
  const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(3)}x` : "-");
  const ratio =
    torch.length > 0 && !r.runtime.startsWith("pytorch")
      ? `${x(r.train / bestTrain)}, ${x((r.trainGraph ?? Number.NaN) / bestTrain)}, ${x(ours / bestInfer)}`
      : "";
  console.log(
    `${r.runtime.padEnd(28)}${r.model.padEnd(8)}${String(r.batch).padStart(6)}${fmt(r.train)}${fmt(r.trainGraph)}${fmt(r.infer)}${fmt(r.inferGraph)}  ${ratio}`,
  );
}
console.log(
  "trainG: the whole training step as one ONNX Runtime session (@cnnkit/backends' onnxRuntimeTrainingStep; '-' where the model's layers are not all supported); inferG: inference likewise (@cnnkit/export's onnxRuntimeForward; the trainer evaluates this way when its convolutions run on ONNX Runtime)",
);
// Against the machine's limit: a training step counted as 3 forward passes (the input and filter
// gradients cost one each), 2 flops per multiply-add; inference as one pass.
console.log(
  "GFLOP/s (training = 3 x forward multiply-adds x 2 per image, inference = 1 x): best tfjs row / best PyTorch row",
);
for (const model of [...new Set(rows.map((r) => r.model))]) {
  const macs = rows.find((r) => r.model === model && r.multiplyAdds)?.multiplyAdds;
  if (!macs) continue;
  const best = (torch: boolean, pick: (r: Row) => (number | null)[]) =>
    Math.max(
      ...rows
        .filter((r) => r.model === model && r.runtime.startsWith("pytorch") === torch)
        .flatMap(pick)
        .filter((v): v is number => v !== null && Number.isFinite(v)),
    );
  const g = (imgs: number, passes: number) =>
    Number.isFinite(imgs) ? ((imgs * macs * 2 * passes) / 1e9).toFixed(0).padStart(5) : "    -";
  console.log(
    `  ${model.padEnd(10)}${(macs / 1e6).toFixed(1).padStart(7)} M multiply-adds: train ${g(
      best(false, (r) => [r.train, r.trainGraph]),
      3,
    )} / ${g(
      best(true, (r) => [r.train]),
      3,
    )}, infer ${g(
      best(false, (r) => [r.infer, r.inferGraph]),
      1,
    )} / ${g(
      best(true, (r) => [r.infer]),
      1,
    )}`,
  );
}
if (ROUNDS > 1) {
  // Each round against PyTorch's best of the same round: minutes apart, the VM's drift cancels.
  console.log("per round, train (and trainG) / best PyTorch train of that round:");
  for (const r of rows.filter((t) => !t.runtime.startsWith("pytorch"))) {
    const ratios = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const ours = all.find(
        (t) => t.round === round && t.runtime === r.runtime && t.model === r.model,
      );
      const theirs = all.filter(
        (t) => t.round === round && t.runtime.startsWith("pytorch") && t.model === r.model,
      );
      const best = Math.max(...theirs.map((t) => t.train));
      const graph = ours?.trainGraph ? ` (${(ours.trainGraph / best).toFixed(2)}x)` : "";
      ratios.push(ours && theirs.length > 0 ? `${(ours.train / best).toFixed(2)}x${graph}` : "-");
    }
    console.log(`  ${r.runtime.padEnd(26)}${r.model.padEnd(8)}${ratios.join("  ")}`);
  }
}
for (const n of notes) console.log(`note: ${n}`);
console.log(
  "command: cd packages/train && pnpm bench (node --conditions=@cnnkit/source --import tsx bench/train.ts)",
);
