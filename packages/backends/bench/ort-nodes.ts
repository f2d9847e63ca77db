// Where one convolution graph's time goes inside ONNX Runtime, per operator (its profiler):
// the forward conv (conv), input gradient (dx) or filter gradient (dw) of 3x3 'same' stride-1
// shapes, as the kernels build them.
//   node --conditions=@cnnkit/source --import tsx bench/ort-nodes.ts [--kernel conv,dx,dw]
//        [--shapes 7x96x96] [--batch 1024] [--threads 2] [--runs 3] [--no-arena]
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { filterGradGraph } from "../src/onnxruntime/conv2d-backprop-filter.js";
import { inputGradGraph } from "../src/onnxruntime/conv2d-backprop-input.js";
import { forwardGraph } from "../src/onnxruntime/forward-graph.js";
import { geometry } from "../src/onnxruntime/geometry.js";
import { loadOnnxRuntime } from "../src/onnxruntime/load.js";
import { encodeOnnxModel, type OnnxGraph } from "../src/onnxruntime/onnx-model.js";
import { probeBlockSize } from "../src/onnxruntime/probe-block-size.js";
import { setActiveRuntime } from "../src/onnxruntime/runtime.js";
import { benchSession, readProfile } from "./ort-profile.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    kernel: { type: "string", default: "conv,dx,dw" },
    shapes: { type: "string", default: "7x96x96,15x24x96" },
    batch: { type: "string", default: "1024" },
    threads: { type: "string", default: "2" },
    runs: { type: "string", default: "3" },
    "no-arena": { type: "boolean", default: false },
  },
});
const ort = loadOnnxRuntime();
const threads = Number(args.threads);
const memoryArena = !args["no-arena"];
const blockSize = probeBlockSize(ort);
setActiveRuntime({ ort, threads, minChannels: 1, blockSize, memoryArena, sessions: new Map() });
const batch = Number(args.batch);
const runs = Number(args.runs);
const dir = mkdtempSync(path.join(os.tmpdir(), "ort-nodes-"));
console.log(
  `onnxruntime-node ${ort.version}, ${threads} threads, NCHWc block ${blockSize}, arena ${memoryArena ? "on" : "off"}, batch ${batch}; ms per run (mean of ${runs} after a warm-up)`,
);

for (const spec of args.shapes.split(",")) {
  const [size, ci, co] = spec.split("x").map(Number) as [number, number, number];
  const g = geometry([batch, size, size, ci], [3, 3, ci, co], { strides: 1, pad: "same" });
  if (g == null) throw new Error(`no geometry for ${spec}`);
  for (const kernel of args.kernel.split(",")) {
    const graph: OnnxGraph | null =
      kernel === "conv"
        ? forwardGraph(g, false, false)
        : kernel === "dx"
          ? inputGradGraph(g)
          : filterGradGraph(g);
    if (graph == null) continue;
    const bytes = encodeOnnxModel(graph);
    const s = benchSession(ort, bytes, { threads, memoryArena, profileDir: dir, spinning: false });
    const feeds = Object.fromEntries(
      graph.inputs.map((v) => {
        const dims = v.shape as number[];
        const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.5);
        return [v.name, new ort.Tensor("float32", data, dims)];
      }),
    );
    const out = (graph.outputs[0] as { name: string }).name;
    for (let r = 0; r <= runs; r++) s.run(feeds, { [out]: null }, {});
    s.endProfiling();
    s.dispose?.();
    // The first run (allocations, the arena's growth) is left out.
    const byOp = new Map<string, number>();
    for (const e of readProfile(dir, 1, runs)) byOp.set(e.op, (byOp.get(e.op) ?? 0) + e.ms);
    const total = [...byOp.values()].reduce((a, b) => a + b, 0);
    const parts = [...byOp]
      .sort((a, b) => b[1] - a[1])
      .map(([op, ms]) => `${op} ${ms.toFixed(1)}`)
      .join(", ");
    console.log(
      `${kernel.padEnd(4)} 3x3 ${ci}->${co} @${size}x${size}: ${total.toFixed(1)} ms = ${parts}`,
    );
  }
}
rmSync(dir, { recursive: true, force: true });
