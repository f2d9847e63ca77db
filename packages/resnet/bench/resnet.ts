// Speed and parity figures for @cnnkit/resnet on tfjs's cpu backend (numbers belong here, not
// in tests). Run from packages/resnet: pnpm bench
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import {
  importTorchStateDict,
  parseSafetensors,
  resnet18,
  resnet20,
  resnet56,
  safetensorsToFloat32,
  smallResNet,
  summarize,
} from "../src/index.js";

const COMMAND = "cd packages/resnet && pnpm bench";

function time<T>(f: () => T): [T, number] {
  const start = performance.now();
  const out = f();
  return [out, performance.now() - start];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function forwardMs(m: LayersModel, batch: number, runs: number): number {
  const x = tf.randomNormal([batch, 32, 32, 3]);
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const [y, ms] = time(() => {
      const out = m.predict(x) as tf.Tensor;
      out.dataSync();
      return out;
    });
    y.dispose();
    if (i > 0) times.push(ms); // the first run warms up
  }
  x.dispose();
  return median(times);
}

function trainStepMs(m: LayersModel, batch: number, runs: number): number {
  const x = tf.randomNormal([batch, 32, 32, 3]);
  const y = tf.tidy(() => tf.oneHot(tf.zeros([batch], "int32") as tf.Tensor1D, 10));
  const optimizer = tf.train.sgd(0.01);
  const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const [, ms] = time(() => {
      const loss = optimizer.minimize(
        () =>
          tf.losses.softmaxCrossEntropy(
            y,
            m.apply(x, { training: true }) as tf.Tensor,
          ) as tf.Scalar,
        true,
        vars,
      );
      loss?.dataSync();
      loss?.dispose();
    });
    if (i > 0) times.push(ms);
  }
  tf.dispose([x, y]);
  optimizer.dispose();
  return median(times);
}

/** Max |tfjs - PyTorch| of eval logits, and after one train step of BN statistics and weights. */
function parity(name: string, build: () => LayersModel): string {
  const fixtures = new URL("../src/__fixtures__/", import.meta.url);
  const read = (file: string) => readFileSync(new URL(file, fixtures));
  const m = build();
  const after = build();
  importTorchStateDict(m, read(`${name}.safetensors`));
  importTorchStateDict(after, read(`${name}.after-step.safetensors`));
  const io = parseSafetensors(read(`${name}.io.safetensors`));
  const get = (n: string) => {
    const t = io.tensors.get(n)!;
    if (t.dtype === "I32")
      return tf.tensor(new Int32Array(t.data.slice().buffer), [...t.shape], "int32");
    return tf.tensor(safetensorsToFloat32(t, n), [...t.shape]);
  };
  const maxDiff = (a: tf.Tensor, b: tf.Tensor) =>
    tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
  const x = get("input");
  const evalDiff = tf.tidy(() => maxDiff(m.predict(x) as tf.Tensor, get("eval_logits")));
  const optimizer = tf.train.sgd(0.1);
  const labels = get("labels");
  let trainDiff = 0;
  tf.dispose(
    optimizer.minimize(
      () => {
        const logits = m.apply(x, { training: true }) as tf.Tensor;
        trainDiff = maxDiff(logits, get("train_logits"));
        return tf.losses.softmaxCrossEntropy(
          tf.oneHot(labels as tf.Tensor1D, 10),
          logits,
        ) as tf.Scalar;
      },
      true,
      m.trainableWeights.map((w) => w.read() as tf.Variable),
    ) ?? [],
  );
  let statsDiff = 0;
  let weightsDiff = 0;
  m.weights.forEach((w, i) => {
    const d = maxDiff(w.read(), after.weights[i]!.read());
    if (w.trainable) weightsDiff = Math.max(weightsDiff, d);
    else statsDiff = Math.max(statsDiff, d);
  });
  tf.dispose([x, labels]);
  optimizer.dispose();
  m.dispose();
  after.dispose();
  const e = (v: number) => v.toExponential(1);
  return `${name}: max |tfjs - PyTorch|: eval logits ${e(evalDiff)}, train logits ${e(trainDiff)}, BN stats after step ${e(statsDiff)}, weights after SGD step ${e(weightsDiff)}`;
}

async function main() {
  await tf.setBackend("cpu");
  const start = tf.memory().numTensors;
  console.log(`@cnnkit/resnet bench, backend ${tf.getBackend()}, Node ${process.version}`);
  for (const [name, build] of [
    ["smallResNet", smallResNet],
    ["resnet20", resnet20],
    ["resnet56", resnet56],
    ["resnet18", resnet18],
  ] as const) {
    const [m, ms] = time(() => build());
    const s = summarize(m);
    console.log(
      `${name.padEnd(12)} build ${ms.toFixed(0).padStart(5)} ms  params ${s.trainableParams.toLocaleString("en-US").padStart(10)}  mult-adds ${(s.multiplyAdds / 1e6).toFixed(1).padStart(6)} M/image`,
    );
    m.dispose();
  }
  const small = smallResNet({ seed: 1 });
  console.log(
    `smallResNet forward, batch 1: ${forwardMs(small, 1, 3).toFixed(0)} ms (median of 3)`,
  );
  small.dispose();
  const r20 = resnet20({ seed: 1 });
  console.log(`resnet20 forward, batch 4: ${forwardMs(r20, 4, 3).toFixed(0)} ms (median of 3)`);
  r20.dispose();
  // tfjs's cpu backend computes conv gradients with naive loops (@cnnkit/backends registers
  // faster kernels), so the training figure uses a narrow ResNet-20 to stay under a minute.
  const narrow = resnet20({ widths: [4, 8, 16], seed: 1 });
  const stepMs = trainStepMs(narrow, 2, 1);
  console.log(
    `resnet20 widths [4, 8, 16] train step (fwd + bwd + SGD), batch 2: ${stepMs.toFixed(0)} ms`,
  );
  narrow.dispose();
  console.log(parity("small-resnet-w8", () => smallResNet({ widths: [8, 16, 32] })));
  console.log(parity("resnet20-w4", () => resnet20({ widths: [4, 8, 16] })));
  console.log(`tensors leaked: ${tf.memory().numTensors - start}`);
  console.log(`reproduce: ${COMMAND}`);
}

await main();
