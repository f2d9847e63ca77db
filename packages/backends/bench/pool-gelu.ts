// MaxPoolGrad, Erf, Exp and a whole GELU (tfjs-layers' `gelu`, and @cnnkit/resnet's `gelu` with
// the fused CnnkitGelu/CnnkitGeluGrad kernels, forward and gradient) on wasm: the backend's own
// kernels (and no fused GELU) against registerTrainingKernels()' ones, in one process,
// alternating (the order flips every pair) so both see the same machine; medians and the median
// paired ratio. With --steps N: then N pairs of whole fastResNet training steps (momentum SGD, as
// profile-step.ts; convolutions on ONNX Runtime where it loads), the same way.
//   node --conditions=@cnnkit/source --import tsx bench/pool-gelu.ts [--widths 32,128,128]
//        [--batch 256] [--threads 2] [--pairs 8] [--gelu 256,15,15,32] [--steps 0] [--only-steps]
import { parseArgs } from "node:util";
import { fastResNet, gelu } from "@cnnkit/resnet";
import { GELU, GELU_GRAD } from "@cnnkit/resnet/kernel-names";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { registerTrainingKernels, unregisterTrainingKernels, useBackend } from "../src/index.js";
import { simdLoops } from "../src/wasm-simd.js";
import { trainingStep } from "./training-step.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    widths: { type: "string", default: "32,128,128" },
    batch: { type: "string", default: "256" },
    threads: { type: "string", default: "2" },
    pairs: { type: "string", default: "8" },
    gelu: { type: "string", default: "256,15,15,32" },
    steps: { type: "string", default: "0" },
    "only-steps": { type: "boolean", default: false },
  },
});
const chosen = await useBackend("wasm", { threads: Number(args.threads) });
console.log(chosen.reason);
const pairs = Number(args.pairs);
const loops = simdLoops(tf.backend());
if (loops == null) throw new Error("no SIMD loops on this backend");

// The backend's own configs and ours, to swap only these (the backend has no GELU kernels).
const NAMES = ["MaxPoolGrad", "Erf", "Exp", GELU, GELU_GRAD];
unregisterTrainingKernels();
const own = NAMES.map((n) => tf.getKernel(n, "wasm"));
registerTrainingKernels();
const ours = NAMES.map((n) => tf.getKernel(n, "wasm"));
function use(configs: typeof own): void {
  for (const [i, name] of NAMES.entries()) {
    const config = configs[i];
    if (tf.getKernel(name, "wasm")) tf.unregisterKernel(name, "wasm");
    if (config) tf.registerKernel(config);
  }
}

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1] as number;
function paired(label: string, run: () => void, count = pairs): void {
  for (const configs of [own, ours]) {
    use(configs);
    run();
    run();
  }
  const times = { own: [] as number[], ours: [] as number[] };
  for (let i = 0; i < count; i++) {
    for (const which of i % 2 ? (["ours", "own"] as const) : (["own", "ours"] as const)) {
      use(which === "own" ? own : ours);
      const t0 = performance.now();
      run();
      times[which].push(performance.now() - t0);
    }
  }
  use(ours);
  const ratios = times.own.map((v, i) => v / (times.ours[i] as number)).sort((a, b) => a - b);
  const best = (a: number[]) => Math.min(...a);
  // The medians and the median paired ratio (its range); the best of each and their ratio, which
  // is the steadier figure when other processes share the cores.
  console.log(
    `${label.padEnd(40)} own ${median(times.own).toFixed(1).padStart(7)} ms   ours ${median(times.ours).toFixed(1).padStart(6)} ms   ${median(ratios).toFixed(2)}× (${ratios[0]?.toFixed(2)}–${ratios.at(-1)?.toFixed(2)});  best ${best(times.own).toFixed(1)} / ${best(times.ours).toFixed(1)} ms = ${(best(times.own) / best(times.ours)).toFixed(2)}×`,
  );
}

const batch = Number(args.batch);
const widths = args.widths.split(",").map(Number);
if (!args["only-steps"]) {
  // fastResNet's pools: 2×2/2 after each group's first conv (31→15, 15→7, 7→3), 3×3/3 at the head.
  const pools: [number[], number][] = [
    [[batch, 31, 31, widths[0] as number], 2],
    [[batch, 15, 15, widths[1] as number], 2],
    [[batch, 7, 7, widths[2] as number], 2],
    [[batch, 3, 3, widths[2] as number], 3],
  ];
  for (const [shape, f] of pools) {
    const x = tf.randomNormal(shape, 0, 1, "float32", 1);
    const y = tf.maxPool(x as tf.Tensor4D, f, f, "valid");
    const dy = tf.randomNormal(y.shape, 0, 1, "float32", 2);
    const attrs = { filterSize: f, strides: f, pad: "valid" };
    paired(`MaxPoolGrad [${shape}] ${f}×${f}/${f}`, () =>
      tf.dispose(
        tf.engine().runKernel("MaxPoolGrad", { dy, input: x, output: y }, attrs) as tf.Tensor,
      ),
    );
    tf.dispose([x, y, dy]);
  }

  const geluShape = args.gelu.split(",").map(Number);
  const x = tf.randomNormal(geluShape, 0, 1, "float32", 3);
  const dy = tf.randomNormal(geluShape, 0, 1, "float32", 4);
  for (const name of ["Erf", "Exp"]) {
    paired(`${name} [${geluShape}]`, () =>
      tf.dispose(tf.engine().runKernel(name, { x }) as tf.Tensor),
    );
  }
  const layer = tfl.layers.activation({ activation: "gelu" });
  const forward = () => tf.dispose(layer.apply(x) as tf.Tensor);
  // The gradient for a given dy: GELU's own kernels only, forward included.
  const grad = tf.grad((t: tf.Tensor) => layer.apply(t) as tf.Tensor);
  const both = () => tf.dispose(grad(x, dy));
  paired(`gelu forward [${geluShape}]`, forward);
  paired(`gelu forward + gradient [${geluShape}]`, both);
  for (const [label, configs] of [
    ["own", own],
    ["ours", ours],
  ] as const) {
    use(configs);
    const profile = await tf.profile(both);
    const byName = new Map<string, { calls: number; ms: number }>();
    let total = 0;
    for (const k of profile.kernels) {
      const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
      const e = byName.get(k.name) ?? { calls: 0, ms: 0 };
      byName.set(k.name, { calls: e.calls + 1, ms: e.ms + ms });
      total += ms;
    }
    const list = [...byName].map(([n, e]) => `${n}×${e.calls} ${e.ms.toFixed(1)}`).join(", ");
    console.log(`  its kernels (${label}): ${total.toFixed(1)} ms: ${list}`);
  }
  use(ours);

  // @cnnkit/resnet's gelu: tfjs-layers' composition on the backend's own kernels, against the
  // fused kernels (one pass each way, only x kept for the gradient).
  const fusedGrad = tf.grad((t: tf.Tensor) => gelu(t));
  paired(`resnet gelu forward [${geluShape}]`, () => tf.dispose(gelu(x)));
  paired(`resnet gelu forward + gradient [${geluShape}]`, () => tf.dispose(fusedGrad(x, dy)));
  tf.dispose([x, dy]);
}

const steps = Number(args.steps);
if (steps > 0) {
  const model = fastResNet({ widths, seed: 0 });
  const step = trainingStep(model, batch);
  // V8 tiers the wasm up over the first steps of a process.
  for (let i = 0; i < 3; i++) step();
  paired(`fastResNet step, widths ${widths}, batch ${batch}`, step, steps);
}
