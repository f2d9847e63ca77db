// What @cnnkit/backends' optimizer kernels (CnnkitAdamWUpdate, CnnkitL2Norms) are worth in the
// trainer's own step (forward, loss, gradients, clipping, AdamW), on real CIFAR-10-shaped
// batches: steps alternate with and without the two kernels in one process (the order flips
// every pair), so both see the same machine; prints the median of the paired ratios, and the
// update and clipping alone.
//   node --conditions=@cnnkit/source --import tsx bench/optimizer-kernels.ts [--widths 8,16,32]
//        [--pairs 12]
import { parseArgs } from "node:util";
import { ADAMW_UPDATE, L2_NORMS, useBackend } from "@cnnkit/backends";
import { AdamW, clipByGlobalNorm } from "@cnnkit/optim";
import { trainableVariables, trainStep } from "@cnnkit/train";
import * as tf from "@tensorflow/tfjs-core";
import { resolveConfig } from "../src/config.js";
import { buildModel } from "../src/model.js";

const { values: args } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  options: {
    widths: { type: "string", default: "8,16,32" },
    pairs: { type: "string", default: "12" },
  },
});
const selection = await useBackend("auto");
console.log(`backend ${selection.backend}: ${selection.reason}`);
const kernels = [ADAMW_UPDATE, L2_NORMS].map((name) => tf.getKernel(name, tf.getBackend()));
if (kernels.some((k) => k === undefined))
  throw new Error("the optimizer kernels are not registered");
const setKernels = (on: boolean) => {
  for (const k of kernels as tf.KernelConfig[]) {
    const present = tf.getKernel(k.kernelName, k.backendName) !== undefined;
    if (on && !present) tf.registerKernel(k);
    if (!on && present) tf.unregisterKernel(k.kernelName, k.backendName);
  }
};

const widths = args.widths.split(",").map(Number);
const model = buildModel({ ...resolveConfig("cpu", {}), widths });
const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 5e-4 });
const x = tf.randomUniform([64, 32, 32, 3], -2, 2, "float32", 1) as tf.Tensor4D;
const y = tf.tensor1d(
  Array.from({ length: 64 }, (_, i) => i % 10),
  "int32",
) as tf.Tensor1D;
const grads: tf.NamedTensorMap = {};
for (const v of trainableVariables(model)) grads[v.name] = tf.randomNormal(v.shape, 0, 1e-2);

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1] as number;
async function paired(label: string, run: () => Promise<void> | void, pairs: number) {
  for (let i = 0; i < 3; i++) await run();
  const on: number[] = [];
  const off: number[] = [];
  for (let i = 0; i < pairs; i++) {
    for (const mode of i % 2 ? [true, false] : [false, true]) {
      setKernels(mode);
      const t0 = performance.now();
      await run();
      (mode ? on : off).push(performance.now() - t0);
    }
  }
  setKernels(true);
  const ratios = on.map((v, i) => (off[i] as number) / v).sort((a, b) => a - b);
  console.log(
    `${label}: median ${median(on).toFixed(2)} ms with the kernels, ${median(off).toFixed(2)} ms without; paired speed-up ${median(ratios).toFixed(3)}× (range ${ratios[0]?.toFixed(2)}–${ratios.at(-1)?.toFixed(2)})`,
  );
}

const pairs = Number(args.pairs);
await paired("AdamW.applyGradients", () => optimizer.applyGradients(grads), 4 * pairs);
await paired(
  "clipByGlobalNorm",
  () => {
    tf.dispose(Object.values(clipByGlobalNorm(grads, 1).grads));
  },
  4 * pairs,
);
await paired(
  `trainStep, SmallResNet ${widths}, batch 64`,
  async () => {
    await trainStep(model, optimizer, x, y, { labelSmoothing: 0.1, gradClip: 1 });
  },
  pairs,
);
process.exit(0); // wasm's pthread workers would keep the process alive
