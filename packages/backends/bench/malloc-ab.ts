// glibc's malloc as the process starts (A) against GLIBC_TUNABLES=RECOMMENDED_GLIBC_TUNABLES (B),
// judged by whole training steps on wasm + ONNX Runtime: onnxruntime-node copies every output of
// every run into a new ArrayBuffer, V8 frees those at its next collection, and glibc then hands
// the freed top of its heap back to the OS, so the next outputs fault their pages in afresh
// (see malloc-tunables.ts). glibc reads its tunables only when a process starts, so each
// configuration runs in a child process of its own, A and B alternating (A B, B A, ...).
//   node --conditions=@cnnkit/source --import tsx bench/malloc-ab.ts [--model fast|small]
//        [--widths 24,96,96] [--batch 1024] [--steps 4] [--pairs 3] [--tunables STRING] [--await]
// (--model small defaults to the narrow net, --widths 16,32,64 --batch 64 --steps 30.)
// Each child prints ms per step, minor page faults and system CPU time per step, and its peak
// RSS (glibc keeps what it no longer trims: the price of B).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fastResNet, smallResNet } from "@cnnkit/resnet";
import { useBackend } from "../src/index.js";
import { RECOMMENDED_GLIBC_TUNABLES } from "../src/malloc-tunables.js";
import { median } from "./ab.js";
import { trainingStep } from "./training-step.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    model: { type: "string", default: "fast" },
    widths: { type: "string" },
    batch: { type: "string" },
    steps: { type: "string" },
    pairs: { type: "string", default: "3" },
    tunables: { type: "string", default: RECOMMENDED_GLIBC_TUNABLES },
    // Yield to the event loop between steps (setImmediate), as cnnkit-train and model.fit do.
    await: { type: "boolean", default: false },
    child: { type: "boolean", default: false },
  },
});
if (args.model !== "fast" && args.model !== "small") {
  throw new Error(`--model: expected fast or small, got ${args.model}`);
}
const small = args.model === "small";
const widths = (args.widths ?? (small ? "16,32,64" : "24,96,96")).split(",").map(Number);
const batch = Number(args.batch ?? (small ? 64 : 1024));
const steps = Number(args.steps ?? (small ? 30 : 4));

interface Result {
  ms: number;
  faults: number;
  sysMs: number;
  rssMiB: number;
}

if (args.child) {
  await useBackend("wasm", { threads: 2 });
  const w = widths as [number, number, number];
  const step = trainingStep(small ? smallResNet({ widths: w }) : fastResNet({ widths: w }), batch);
  for (let i = 0; i < 3; i++) step(); // sessions, weight packing, V8 tiering, the heap's growth
  const u0 = process.resourceUsage();
  const t = performance.now();
  for (let i = 0; i < steps; i++) {
    step();
    if (args.await) await new Promise((resolve) => setImmediate(resolve));
  }
  const ms = (performance.now() - t) / steps;
  const u1 = process.resourceUsage();
  const result: Result = {
    ms,
    faults: (u1.minorPageFault - u0.minorPageFault) / steps,
    sysMs: (u1.systemCPUTime - u0.systemCPUTime) / 1000 / steps,
    rssMiB: u1.maxRSS / 1024,
  };
  console.log(JSON.stringify(result));
  process.exit(0); // wasm pthread workers
}

const self = fileURLToPath(import.meta.url);
function child(tuned: boolean): Result {
  const env = { ...process.env };
  if (tuned) env.GLIBC_TUNABLES = args.tunables;
  else delete env.GLIBC_TUNABLES;
  const flags = ["--model", args.model, "--widths", widths.join(","), "--batch", String(batch)];
  if (args.await) flags.push("--await");
  const r = spawnSync(
    process.execPath,
    [...process.execArgv, self, "--child", ...flags, "--steps", String(steps)],
    { env, encoding: "utf8" },
  );
  const line = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !line.startsWith("{")) {
    throw new Error(`bench:malloc-ab child failed (${r.status}): ${r.stderr.trim()}`);
  }
  return JSON.parse(line) as Result;
}

console.log(
  `${small ? "smallResNet" : "fastResNet"} ${widths.join(",")}, batch ${batch}, ${steps} steps per process after 3; A: malloc as started${process.env.GLIBC_TUNABLES ? " (GLIBC_TUNABLES unset for A)" : ""}, B: GLIBC_TUNABLES=${args.tunables}`,
);
const runs: [Result[], Result[]] = [[], []];
for (let p = 0; p < Number(args.pairs); p++) {
  for (const k of p % 2 ? ([1, 0] as const) : ([0, 1] as const)) {
    const r = child(k === 1);
    runs[k].push(r);
    console.log(
      `  ${"AB"[k]}: ${r.ms.toFixed(1)} ms/step, ${r.faults.toFixed(0)} page faults and ${r.sysMs.toFixed(1)} ms system time per step, peak RSS ${r.rssMiB.toFixed(0)} MiB`,
    );
  }
}
const [a, b] = runs;
const ratios = a.map((r, i) => r.ms / (b[i] as Result).ms);
const med = (rs: Result[], f: (r: Result) => number) => median(rs.map(f));
console.log(
  `A ${med(a, (r) => r.ms).toFixed(1)} ms, B ${med(b, (r) => r.ms).toFixed(1)} ms per step (medians); A/B ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}, ${a.length} pairs); page faults per step ${med(a, (r) => r.faults).toFixed(0)} -> ${med(b, (r) => r.faults).toFixed(0)}; peak RSS ${med(a, (r) => r.rssMiB).toFixed(0)} -> ${med(b, (r) => r.rssMiB).toFixed(0)} MiB`,
);
