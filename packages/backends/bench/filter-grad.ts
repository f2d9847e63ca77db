// The filter gradient's graphs on ONNX Runtime, plan against plan (conv2d-backprop-filter.ts),
// alternating in one process on the same arrays: ms per call, each plan's ratio to the default's
// measured in the same rounds, and the largest difference from the default's result.
//   node --conditions=@cnnkit/source --import tsx bench/filter-grad.ts [--batch 1024]
//        [--threads 2] [--rounds 5] [--shapes 15x24x24,31x24x24] [--plans pixel,g1,g8,g1024]
//        [--no-arena]
// --shapes: SIZExCINxCOUT[sSTRIDE], 3x3 'same' (fastResNet's: stride 1); --plans: pixel
// (pixel-major), gN (channel-major in N groups of images; g1 = one plain MatMul per tap; stride 1
// only), blocked (one blocked convolution; batches of whole blocks only) or blockedG (the same
// with G input channels interleaved along the width, G a divisor of ci: blocked8, blocked32;
// the default's G is filterGradInterleave's, plain "blocked" is G = 1).
import { parseArgs } from "node:util";
import {
  type FilterGradPlan,
  filterGradGraph,
  filterGradPlan,
} from "../src/onnxruntime/conv2d-backprop-filter.js";
import { geometry } from "../src/onnxruntime/geometry.js";
import { loadOnnxRuntime } from "../src/onnxruntime/load.js";
import { probeBlockSize } from "../src/onnxruntime/probe-block-size.js";
import { activeRuntime, setActiveRuntime } from "../src/onnxruntime/runtime.js";
import { session } from "../src/onnxruntime/session-cache.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    batch: { type: "string", default: "1024" },
    threads: { type: "string", default: "2" },
    rounds: { type: "string", default: "5" },
    shapes: { type: "string", default: "31x24x24,15x24x24,15x24x96,7x96x96,3x96x96" },
    plans: { type: "string", default: "pixel,g1,g2,g8,g32" },
    "no-arena": { type: "boolean", default: false },
  },
});
const ort = loadOnnxRuntime();
const threads = Number(args.threads);
setActiveRuntime({
  ort,
  threads,
  minChannels: 1,
  blockSize: probeBlockSize(ort),
  memoryArena: !args["no-arena"],
  sessions: new Map(),
});
const batch = Number(args.batch);
const rounds = Number(args.rounds);

const parsePlan = (p: string): FilterGradPlan =>
  p === "pixel"
    ? { mode: "pixel-major" }
    : p.startsWith("blocked")
      ? {
          mode: "blocked",
          block: activeRuntime()?.blockSize ?? 8,
          interleave: Number(p.slice("blocked".length) || 1),
        }
      : { mode: "channel-major", groups: Number(p.slice(1)) };
const planName = (p: FilterGradPlan) =>
  p.mode === "pixel-major"
    ? "pixel"
    : p.mode === "blocked"
      ? `blocked${(p.interleave ?? 1) > 1 ? p.interleave : ""}`
      : `g${p.groups}`;

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

console.log(
  `onnxruntime-node ${ort.version}, ${threads} threads, batch ${batch}, ${rounds} rounds alternating; ms: median, ratio: default / plan per round (median)`,
);
for (const spec of args.shapes.split(",")) {
  const [dims, strideText] = spec.split("s");
  const [size, ci, co] = (dims as string).split("x").map(Number) as [number, number, number];
  const stride = Number(strideText ?? 1);
  const outSize = Math.ceil(size / stride);
  const g = geometry([batch, size, size, ci], [3, 3, ci, co], { strides: stride, pad: "same" });
  if (g == null) throw new Error(`no geometry for ${spec}`);
  const byName = new Map<string, FilterGradPlan>();
  const def = filterGradPlan(g);
  byName.set(`default (${planName(def)})`, def);
  for (const p of args.plans.split(",")) {
    const plan = parsePlan(p);
    if (plan.mode === "channel-major" && (batch % plan.groups !== 0 || stride > 1)) continue;
    if (plan.mode === "blocked" && batch % plan.block !== 0) continue;
    if (plan.mode === "blocked" && ci % (plan.interleave ?? 1) !== 0) continue;
    if (JSON.stringify(plan) === JSON.stringify(def)) continue; // the default's row already
    byName.set(p, plan);
  }
  const x = random(batch * size * size * ci, 1);
  const dy = random(batch * outSize * outSize * co, 2);
  const results = new Map<string, Float32Array>();
  const times = new Map<string, number[]>();
  const run = (name: string, plan: FilterGradPlan) => {
    const s = session(`${spec} ${name}`, () => filterGradGraph(g, plan));
    const out = results.get(name) ?? new Float32Array(9 * ci * co);
    results.set(name, out);
    const t = performance.now();
    s.session.run(
      {
        x: new ort.Tensor("float32", x, [batch, size, size, ci]),
        dy: new ort.Tensor("float32", dy, [batch, outSize, outSize, co]),
      },
      { dw: new ort.Tensor("float32", out, [3, 3, ci, co]) },
      {},
    );
    return performance.now() - t;
  };
  for (const [name, plan] of byName) run(name, plan); // compile and warm up
  for (let r = 0; r < rounds; r++) {
    for (const [name, plan] of byName)
      times.set(name, [...(times.get(name) ?? []), run(name, plan)]);
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
  const [defName] = byName.keys() as IterableIterator<string>;
  const reference = results.get(defName as string) as Float32Array;
  const scale = reference.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  console.log(
    `\n3x3 ${ci}->${co} @${size}x${size}, stride ${stride} (GFLOP ${((2 * batch * outSize * outSize * 9 * ci * co) / 1e9).toFixed(2)})`,
  );
  for (const name of byName.keys()) {
    const t = times.get(name) as number[];
    const d = times.get(defName as string) as number[];
    const ratio = median(t.map((v, r) => (d[r] as number) / v));
    const out = results.get(name) as Float32Array;
    let diff = 0;
    for (let i = 0; i < out.length; i++)
      diff = Math.max(diff, Math.abs((out[i] as number) - (reference[i] as number)));
    console.log(
      `  ${name.padEnd(18)}${median(t).toFixed(1).padStart(8)} ms  x${ratio.toFixed(2)}  max diff ${(diff / scale).toExponential(1)}`,
    );
  }
}
for (const c of activeRuntime()?.sessions.values() ?? []) c.session.dispose?.();
