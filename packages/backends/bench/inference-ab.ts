// BatchNorm at inference (FusedBatchNorm) on wasm: these SIMD loops against tfjs-backend-wasm's own
// kernel, in whole inference passes (model.apply, training false) of SmallResNet (any widths) or
// fastResNet, alternating in one process so both see the same machine. Prints the medians and
// the range of the paired ratios, and checks the two give the same logits, bit for bit.
//   node --conditions=@cnnkit/source --import tsx bench/inference-ab.ts [--widths 64,128,256]
//        [--model small|fast] [--batch 64] [--pairs 10] [--threads 2]
import { parseArgs } from "node:util";
import { fastResNet, smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import { registerTrainingKernels, unregisterTrainingKernels, useBackend } from "../src/index.js";
import { alternate, summary } from "./ab.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    widths: { type: "string", default: "64,128,256" },
    model: { type: "string", default: "small" },
    batch: { type: "string", default: "64" },
    pairs: { type: "string", default: "10" },
    threads: { type: "string", default: "2" },
  },
});
const chosen = await useBackend("wasm", { threads: Number(args.threads) });
console.log(chosen.reason);
// wasm's own kernel comes back while the training kernels are unregistered.
unregisterTrainingKernels();
const theirs = tf.getKernel("FusedBatchNorm", "wasm");
registerTrainingKernels();
const ours = tf.getKernel("FusedBatchNorm", "wasm");
if (theirs == null || ours == null || theirs.kernelFunc === ours.kernelFunc) {
  throw new Error("expected wasm's own FusedBatchNorm and registerTrainingKernels' one");
}
const use = (config: tf.KernelConfig) => {
  if (tf.getKernel("FusedBatchNorm", "wasm")) tf.unregisterKernel("FusedBatchNorm", "wasm");
  tf.registerKernel(config);
};

const widths = args.widths.split(",").map(Number) as [number, number, number];
const model = (args.model === "fast" ? fastResNet : smallResNet)({ widths, seed: 0 });
const batch = Number(args.batch);
const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, "float32", 3);
const infer = () => {
  const y = tf.tidy(() => model.apply(x, { training: false }) as tf.Tensor);
  const values = y.dataSync() as Float32Array;
  y.dispose();
  return values;
};
const configs = [theirs, ours];
const logits = configs.map((c) => {
  use(c);
  infer();
  return infer();
});
const same = logits[0]!.every((v, i) => Object.is(v, logits[1]![i]));
const times = alternate(Number(args.pairs), (k) => use(configs[k]!), infer);
console.log(
  `${args.model} ${args.widths}, batch ${batch}, one inference pass: ${summary(times, ["wasm's FusedBatchNorm", "these loops"])}; logits ${same ? "identical" : "DIFFERENT"}`,
);
