import { decoupledSGD, SGD } from "@cnnkit/optim";
import { SGD_UPDATE } from "@cnnkit/optim/kernel-names";
import { fastResNet } from "@cnnkit/resnet";
import {
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  GELU,
  GELU_GRAD,
} from "@cnnkit/resnet/kernel-names";
import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, describe, expect, it } from "vitest";
import { classifierStep } from "../test/classifier-step.js";
import { seededValues } from "../test/conv-check.js";
import { loadOnnxRuntime } from "./onnxruntime/load.js";
import {
  registerOnnxRuntimeKernels,
  unregisterOnnxRuntimeKernels,
} from "./onnxruntime/register.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

/**
 * Loss curves may differ only by float32 rounding: the kernels sum in another order than the
 * reference, and the SGD steps carry that forward. Measured: at most 1.5e-7 relative over 8 steps
 * on cpu and wasm, with and without ONNX Runtime's convolutions (6.0e-8 to 1.45e-7); 1e-5 leaves
 * 60x room for other CPUs and still catches a 0.1% error planted in one BatchNorm gradient (it
 * moved the fast net's curve by 1.7e-5; at 1e-4 it passed).
 */
const LOSS_RTOL = 1e-5;
const STEPS = 8;

/** A tiny residual net with every conv kind of the ResNets: 3x3 s1, 3x3 s2 'valid' after padding, 1x1 s2. */
function tinyResNet(): tfl.LayersModel {
  let seed = 7;
  const init = () => tfl.initializers.glorotNormal({ seed: seed++ });
  const conv = (filters: number, k: number, strides: number, padding: "same" | "valid") =>
    tfl.layers.conv2d({
      filters,
      kernelSize: k,
      strides,
      padding,
      useBias: false,
      kernelInitializer: init(),
    });
  const input = tfl.input({ shape: [8, 8, 3] });
  const apply = (
    l: { apply(x: tfl.SymbolicTensor | tfl.SymbolicTensor[]): unknown },
    x: tfl.SymbolicTensor | tfl.SymbolicTensor[],
  ) => l.apply(x) as tfl.SymbolicTensor;
  let x = apply(conv(4, 3, 1, "same"), input);
  x = apply(tfl.layers.batchNormalization(), x);
  x = apply(tfl.layers.reLU(), x);
  let y = apply(
    tfl.layers.zeroPadding2d({
      padding: [
        [1, 1],
        [1, 1],
      ],
    }),
    x,
  );
  y = apply(conv(6, 3, 2, "valid"), y);
  y = apply(tfl.layers.batchNormalization(), y);
  y = apply(tfl.layers.reLU(), y);
  y = apply(conv(6, 3, 1, "same"), y);
  const shortcut = apply(conv(6, 1, 2, "valid"), x);
  x = apply(tfl.layers.reLU(), apply(tfl.layers.add(), [y, shortcut]));
  x = apply(tfl.layers.globalAveragePooling2d({}), x);
  x = apply(tfl.layers.dense({ units: 3, kernelInitializer: init() }), x);
  return tfl.model({ inputs: input, outputs: x });
}

type Kernels = "reference" | "training" | "onnxruntime";

/** The runs each curve is compared with the reference's on. */
const RUNS = [
  ["cpu", "training"],
  ["wasm", "training"],
  ["cpu", "onnxruntime"],
  ["wasm", "onnxruntime"],
] as const;

/** Every step's loss within LOSS_RTOL of the reference's. */
function expectFollows(curve: number[], reference: number[], what: string): void {
  expect(curve).toHaveLength(STEPS);
  curve.forEach((loss, i) => {
    const ref = reference[i] as number;
    expect(
      Math.abs(loss - ref) / Math.abs(ref),
      `${what} step ${i}: ${loss} vs ${ref}`,
    ).toBeLessThan(LOSS_RTOL);
  });
}

async function lossCurve(backend: "cpu" | "wasm", kernels: Kernels): Promise<number[]> {
  await useBackend(backend, { trainingKernels: false }); // also unregisters the ONNX Runtime ones
  if (kernels === "reference") unregisterTrainingKernels();
  else registerTrainingKernels();
  // minChannels 1: this net's 4-6 channel convs all run on ONNX Runtime, forward included.
  if (kernels === "onnxruntime") registerOnnxRuntimeKernels({ threads: 2, minChannels: 1 });
  const model = tinyResNet();
  const xs = tf.tensor4d(seededValues(4 * 8 * 8 * 3, 11), [4, 8, 8, 3]);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 1], "int32"), 3);
  const optimizer = tf.train.momentum(0.2, 0.9);
  const before = tf.memory().numTensors;
  const losses: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const loss = optimizer.minimize(
      () =>
        tf.losses.softmaxCrossEntropy(
          labels,
          model.apply(xs, { training: true }) as tf.Tensor,
        ) as tf.Scalar,
      true,
    ) as tf.Scalar;
    losses.push(loss.dataSync()[0] as number);
    loss.dispose();
    // The optimizer creates its momentum slots on the first step; after that nothing may grow.
    if (i === 0) expect(tf.memory().numTensors).toBeGreaterThanOrEqual(before);
  }
  const afterFirst = tf.memory().numTensors;
  const extra = optimizer.minimize(
    () =>
      tf.losses.softmaxCrossEntropy(
        labels,
        model.apply(xs, { training: true }) as tf.Tensor,
      ) as tf.Scalar,
  );
  expect(extra).toBeNull();
  expect(tf.memory().numTensors).toBe(afterFirst);
  optimizer.dispose();
  model.dispose();
  tf.dispose([xs, labels]);
  return losses;
}

describe("a short training run with the training kernels", () => {
  afterAll(() => {
    unregisterOnnxRuntimeKernels();
    unregisterTrainingKernels();
  });

  it("follows the reference kernels' loss curve on cpu and wasm, with and without ONNX Runtime", async () => {
    const reference = await lossCurve("cpu", "reference");
    // The run must actually learn, or matching curves would prove little.
    expect(reference.at(-1) as number).toBeLessThan((reference[0] as number) * 0.8);
    for (const [backend, kernels] of RUNS) {
      expectFollows(await lossCurve(backend, kernels), reference, `${backend} + ${kernels}`);
    }
  });
});

/**
 * The trainer's training step, small: fastResNet (whitening stem, MaxPool downsampling, GELU and
 * @cnnkit/resnet's BatchNorm, which call the fused CnnkitGelu and CnnkitBatchNormTraining kernels
 * where they are registered) at widths 8/16/16, @cnnkit/optim's SGD with the fast recipe's decoupled settings
 * (Nesterov, weight decay, BatchNorm biases at 64x the rate: CnnkitSGDUpdate where registered),
 * label smoothing 0.2. Returns the losses, the kernels the first step ran and how many ONNX
 * Runtime sessions the run created.
 */
async function fastRecipeCurve(
  backend: "cpu" | "wasm",
  kernels: Kernels,
): Promise<{ losses: number[]; kernelNames: string[]; sessions: number }> {
  await useBackend(backend, { trainingKernels: false }); // also unregisters the ONNX Runtime ones
  if (kernels === "reference") unregisterTrainingKernels();
  else registerTrainingKernels();
  let sessions = 0;
  if (kernels === "onnxruntime") {
    const ort = loadOnnxRuntime();
    const counting = {
      ...ort,
      createSession: () => {
        sessions++;
        return ort.createSession();
      },
    };
    // minChannels 1: every conv runs on ONNX Runtime, forward included.
    registerOnnxRuntimeKernels({ threads: 2, minChannels: 1, load: () => counting });
    sessions = 0; // the block-size probe's
  }
  const model = fastResNet({ widths: [8, 16, 16], seed: 5 });
  const batch = 4;
  const xs = tf.tensor4d(seededValues(batch * 32 * 32 * 3, 21), [batch, 32, 32, 3]);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], "int32"), 10);
  // lr 60 per 1,024 examples (the recipe's peak is 11.5): 8 steps on one batch must visibly learn.
  const optimizer = new SGD(
    decoupledSGD({
      lr: 60,
      weightDecay: 0.0153,
      momentum: 0.85,
      batchSize: batch,
      biasLrScale: 64,
    }),
  );
  const step = () => {
    const loss = classifierStep(model, xs, labels, optimizer, 0.2);
    const value = loss.dataSync()[0] as number;
    loss.dispose();
    return value;
  };
  const losses: number[] = [];
  const { kernelNames } = await tf.profile(() => {
    losses.push(step());
  });
  const before = tf.memory().numTensors;
  for (let i = 1; i < STEPS; i++) losses.push(step());
  expect(tf.memory().numTensors).toBe(before);
  optimizer.dispose();
  model.dispose();
  tf.dispose([xs, labels]);
  return { losses, kernelNames, sessions };
}

// Measured: at most 1.6e-7 relative over the 8 steps in all four runs (the same LOSS_RTOL as
// above); a 0.1% error in the fused BatchNorm's bias gradient moves the curve by 1.7e-5.
describe("the fast recipe's training step with the fused kernels the trainer uses", () => {
  afterAll(() => {
    unregisterOnnxRuntimeKernels();
    unregisterTrainingKernels();
  });

  it("follows the reference kernels' loss curve on cpu and wasm, with and without ONNX Runtime", async () => {
    // GELU is one kernel each way on wasm only (cpu's composition defines the numbers).
    const fused = [BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, SGD_UPDATE, GELU, GELU_GRAD];
    const reference = await fastRecipeCurve("cpu", "reference");
    // The reference is tfjs's own kernels: BatchNorm and SGD as ordinary ops.
    expect(reference.kernelNames.filter((k) => fused.includes(k))).toEqual([]);
    expect(reference.losses.at(-1) as number).toBeLessThan((reference.losses[0] as number) * 0.8);
    for (const [backend, kernels] of RUNS) {
      const run = await fastRecipeCurve(backend, kernels);
      const expected = backend === "wasm" ? fused : fused.slice(0, 3);
      expect(run.kernelNames).toEqual(expect.arrayContaining(expected));
      // The convs really ran there: a graph per kernel and shape, 16 (the stem's forward; forward,
      // dx and dW of the six 3x3 convs, which have five shapes).
      if (kernels === "onnxruntime") expect(run.sessions).toBeGreaterThanOrEqual(16);
      expectFollows(run.losses, reference.losses, `${backend} + ${kernels}`);
    }
    // ~20 s on a quiet 2-core machine; minutes when CI shares it (it timed out at 60 s).
  }, 300_000);
});
