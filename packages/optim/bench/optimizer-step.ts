// Time per optimizer step on ResNet-20's parameter shapes (0.27 M weights) with the cpu backend:
// AdamW, SGD with Nesterov, clipByGlobalNorm and a WeightEMA update, each measured alone.
//
// Run from packages/optim:  pnpm bench
// (= node --conditions=@cnnkit/source --import tsx bench/optimizer-step.ts)
import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { AdamW, clipByGlobalNorm, SGD, WeightEMA } from "../src/index.js";

await tf.setBackend("cpu");

function resnet20Shapes(): Record<string, number[]> {
  const shapes: Record<string, number[]> = { "stem_conv/kernel": [3, 3, 3, 16] };
  const bn = (name: string, c: number) => {
    for (const w of ["gamma", "beta"]) shapes[`${name}/${w}`] = [c];
  };
  bn("stem_bn", 16);
  let inC = 16;
  [16, 32, 64].forEach((c, s) => {
    for (let b = 1; b <= 3; b++) {
      const p = `stage${s + 1}_block${b}`;
      shapes[`${p}_conv1/kernel`] = [3, 3, inC, c];
      bn(`${p}_bn1`, c);
      shapes[`${p}_conv2/kernel`] = [3, 3, c, c];
      bn(`${p}_bn2`, c);
      inC = c;
    }
  });
  shapes["logits/kernel"] = [64, 10];
  shapes["logits/bias"] = [10];
  return shapes;
}

const shapes = resnet20Shapes();
const vars = Object.entries(shapes).map(([name, shape]) =>
  tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 0.1), true, name)),
);
const grads: tf.NamedTensorMap = Object.fromEntries(
  Object.entries(shapes).map(([name, shape]) => [name, tf.randomNormal(shape, 0, 0.01)]),
);
const params = vars.reduce((n, v) => n + v.size, 0);

function time(label: string, steps: number, step: () => void): void {
  step(); // warm-up: slots are created on the first step
  const before = tf.memory().numTensors;
  const start = performance.now();
  for (let i = 0; i < steps; i++) step();
  const ms = (performance.now() - start) / steps;
  const leaked = tf.memory().numTensors - before;
  console.log(
    `${label.padEnd(34)} ${ms.toFixed(2).padStart(8)} ms/step   tensors leaked: ${leaked}`,
  );
}

console.log(
  `${vars.length} variables, ${params} weights, backend ${tf.getBackend()}, node ${process.version}`,
);
const adamw = new AdamW({ learningRate: 1e-3, weightDecay: 5e-4 });
time("AdamW.applyGradients", 20, () => adamw.applyGradients(grads));
const sgd = new SGD({ learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
time("SGD (Nesterov).applyGradients", 20, () => sgd.applyGradients(grads));
const tfAdam = tf.train.adam(1e-3);
time("tf.train.adam (reference)", 20, () =>
  tfAdam.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor }))),
);
time("clipByGlobalNorm", 20, () => tf.dispose(clipByGlobalNorm(grads, 1).grads));
const ema = new WeightEMA(vars, { decay: 0.999 });
time("WeightEMA.update", 20, () => ema.update());
console.log("command: cd packages/optim && pnpm bench");
