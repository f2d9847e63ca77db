// Which convolutions go to ONNX Runtime, judged by whole training steps: fastResNet (or, with
// --model small, SmallResNet) steps with
// registerOnnxRuntimeKernels' minChannels A against B (the forward and input-gradient convs with
// fewer channels either way stay on XNNPACK-wasm), alternating in one process so both see the same
// machine; per-kernel timings alone (bench:kernels, bench:ort-nodes) have misled this choice.
//   node --conditions=@cnnkit/source --import tsx bench/route-ab.ts [--model fast|small]
//        [--widths 24,96,96] [--batch 1024] [--pairs 8] [--a 32] [--b 16] [--runs]
// --runs: large outputs written in one run (A) against in runs of 2 MiB (B), at minChannels --b.
// (--model small defaults to the narrow net, --widths 16,32,64 --batch 64.)
import { parseArgs } from "node:util";
import { fastResNet, smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/index.js";
import { runLimits } from "../src/onnxruntime/run-graph.js";
import { activeRuntime } from "../src/onnxruntime/runtime.js";
import { alternate, summary } from "./ab.js";
import { trainingStep } from "./training-step.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    model: { type: "string", default: "fast" },
    widths: { type: "string" },
    batch: { type: "string" },
    pairs: { type: "string", default: "8" },
    a: { type: "string", default: "32" },
    b: { type: "string", default: "16" },
    // Instead: large outputs in runs (run-graph.ts's runLimits) off (A) against on (B), at
    // minChannels --b.
    runs: { type: "boolean", default: false },
  },
});
const chosen = await useBackend("wasm", { threads: 2 });
console.log(chosen.reason);
const rt = activeRuntime();
if (!rt) throw new Error(`bench:route-ab needs onnxruntime-node: ${chosen.reason}`);
if (args.model !== "fast" && args.model !== "small") {
  throw new Error(`--model: expected fast or small, got ${args.model}`);
}
const small = args.model === "small";
const widthsArg = args.widths ?? (small ? "16,32,64" : "24,96,96");
const batch = Number(args.batch ?? (small ? 64 : 1024));
const widths = widthsArg.split(",").map(Number) as [number, number, number];
const model = small ? smallResNet({ widths }) : fastResNet({ widths });
const step = trainingStep(model, batch);
const configs = [Number(args.a), Number(args.b)];
const runsAb = args.runs;
const splitAbove = runLimits.splitAboveBytes;
// worthIt() and runGraph() read these on every call; both configurations' sessions stay cached.
const set = (k: number) => {
  if (runsAb) {
    rt.minChannels = configs[1] as number;
    runLimits.splitAboveBytes = k === 0 ? Number.POSITIVE_INFINITY : splitAbove;
  } else {
    rt.minChannels = configs[k] as number;
  }
};
for (const k of [0, 1]) {
  set(k); // two untimed steps each: session creation, weight packing, V8 tiering
  step();
  step();
}
const times = alternate(Number(args.pairs), set, step);
const names: [string, string] = runsAb
  ? [`minChannels ${configs[1]}, one run`, `minChannels ${configs[1]}, large outputs in runs`]
  : [`minChannels ${configs[0]}`, `minChannels ${configs[1]}`];
console.log(
  `${small ? "smallResNet" : "fastResNet"} ${widthsArg}, batch ${batch}, one training step: ${summary(times, names)}; tensors ${tf.memory().numTensors}`,
);
