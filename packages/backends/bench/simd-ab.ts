// The SIMD loops of another version of src/wasm-simd.ts (--old, e.g. from a git worktree of an
// earlier commit) against this tree's, in one process on one wasm backend, alternating (the order
// flips every pair): GELU forward and gradient alone on one activation shape, with the two
// versions' results compared bit for bit, then (--steps N) whole fastResNet training steps
// (momentum SGD, as pool-gelu.ts) with the backend's loops swapped between the versions. Medians,
// the median paired ratio old/new (its range) and the best of each.
//   git worktree add /tmp/cnnkit-old <commit>
//   node --conditions=@cnnkit/source --import tsx bench/simd-ab.ts
//        --old /tmp/cnnkit-old/packages/backends/src/wasm-simd.ts [--gelu 1024,31,31,24]
//        [--threads 2] [--pairs 9] [--steps 0] [--widths 24,96,96] [--batch 1024]
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { fastResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/index.js";
import * as current from "../src/wasm-simd.js";
import { trainingStep } from "./training-step.js";

const { values: args } = parseArgs({
  // `pnpm bench:simd-ab -- --old …` hands the script the "--" too.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    old: { type: "string" },
    gelu: { type: "string", default: "1024,31,31,24" },
    threads: { type: "string", default: "2" },
    pairs: { type: "string", default: "9" },
    steps: { type: "string", default: "0" },
    widths: { type: "string", default: "24,96,96" },
    batch: { type: "string", default: "1024" },
  },
});
if (!args.old) throw new Error("--old: the path of the other wasm-simd.ts");
const old = (await import(pathToFileURL(args.old).href)) as typeof current;
const chosen = await useBackend("wasm", { threads: Number(args.threads) });
console.log(chosen.reason);
const loops = current.simdLoops(tf.backend());
const module = (
  tf.backend() as unknown as {
    wasm: { wasmMemory?: object; asm?: { memory?: object }; _malloc(n: number): number };
  }
).wasm;
const memory = module.wasmMemory ?? module.asm?.memory;
if (loops == null || memory == null) throw new Error("no SIMD loops on this backend");
const oldLoops = old.bindSimdLoops(memory, module._malloc(current.SIMD_SCRATCH_BYTES) >>> 0, {
  helper: Number(args.threads) > 1,
});
const threaded = Number(args.threads) > 1;
for (let t = 0; t < 200 && threaded && !(loops.helperReady() && oldLoops.helperReady()); t++) {
  await new Promise((r) => setTimeout(r, 25));
}
console.log(`helper threads: old ${oldLoops.helperReady()}, new ${loops.helperReady()}`);

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1] as number;
function paired(label: string, a: () => void, b: () => void, pairs: number): void {
  a();
  b();
  const times = { old: [] as number[], new: [] as number[] };
  for (let i = 0; i < pairs; i++) {
    for (const which of i % 2 ? (["new", "old"] as const) : (["old", "new"] as const)) {
      const t0 = performance.now();
      (which === "old" ? a : b)();
      times[which].push(performance.now() - t0);
    }
  }
  const ratios = times.old.map((v, i) => v / (times.new[i] as number)).sort((p, q) => p - q);
  console.log(
    `${label.padEnd(44)} old ${median(times.old).toFixed(1).padStart(7)} ms   new ${median(times.new).toFixed(1).padStart(7)} ms   ${median(ratios).toFixed(2)}× (${ratios[0]?.toFixed(2)}–${ratios.at(-1)?.toFixed(2)});  best ${Math.min(...times.old).toFixed(1)} / ${Math.min(...times.new).toFixed(1)} ms`,
  );
}

// GELU alone: both versions' loops on the same x and dy, each into its own output.
const shape = args.gelu.split(",").map(Number);
const x = tf.randomNormal(shape, 0, 1, "float32", 3);
const dy = tf.randomNormal(shape, 0, 1, "float32", 4);
const [outOld, outNew] = [tf.zerosLike(x), tf.zerosLike(x)];
const address = (t: tf.Tensor) =>
  (
    tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } }
  ).dataIdMap.get(t.dataId).memoryOffset;
const n = x.size;
const differing = () => {
  const [p, q] = [outOld, outNew].map(
    (t) => new Uint32Array((t.dataSync() as Float32Array).buffer),
  );
  let d = 0;
  for (let i = 0; i < n; i++) if ((p as Uint32Array)[i] !== (q as Uint32Array)[i]) d++;
  return d;
};
const geluOld = () => old.simdUnary(oldLoops, "gelu", address(outOld), address(x), n);
const geluNew = () => current.simdUnary(loops, "gelu", address(outNew), address(x), n);
const gradOld = () => old.simdGeluGrad(oldLoops, address(outOld), address(dy), address(x), n);
const gradNew = () => current.simdGeluGrad(loops, address(outNew), address(dy), address(x), n);
geluOld();
geluNew();
console.log(`GELU [${shape}]: ${differing()} of ${n} results differ between the versions`);
gradOld();
gradNew();
console.log(`GELU gradient [${shape}]: ${differing()} of ${n} results differ`);
const pairs = Number(args.pairs);
paired(`GELU forward [${shape}]`, geluOld, geluNew, pairs);
paired(`GELU gradient [${shape}]`, gradOld, gradNew, pairs);
tf.dispose([x, dy, outOld, outNew]);

const steps = Number(args.steps);
if (steps > 0) {
  // The kernels reach the loops through this tree's simdLoops(backend), one object: swapping its
  // members swaps every SIMD loop (the other kernels' loops are the same code in both versions
  // unless --old differs there too).
  const mine = { ...loops };
  const use = (which: current.SimdLoops) => Object.assign(loops, which);
  const batch = Number(args.batch);
  const widths = args.widths.split(",").map(Number);
  const model = fastResNet({ widths, seed: 0 });
  const step = trainingStep(model, batch);
  // V8 tiers the wasm up over the first steps of a process.
  for (let i = 0; i < 3; i++) step();
  paired(
    `fastResNet step, widths ${widths}, batch ${batch}`,
    () => {
      use(oldLoops);
      step();
    },
    () => {
      use(mine);
      step();
    },
    steps,
  );
  use(mine);
}
process.exit(0);
