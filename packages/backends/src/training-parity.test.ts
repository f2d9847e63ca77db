import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, describe, expect, it } from "vitest";
import { seededValues } from "../test/conv-check.js";
import {
  registerOnnxRuntimeKernels,
  unregisterOnnxRuntimeKernels,
} from "./onnxruntime/register.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

/**
 * Loss curves may differ only by float32 rounding: the kernels sum in another order than the
 * reference, and the SGD steps carry that forward. Measured: at most 1.5e-7 relative over 8 steps
 * on cpu and wasm, with and without ONNX Runtime's convolutions (6.0e-8 to 1.45e-7); 1e-4 leaves
 * room for other CPUs and is far below what a wrong gradient causes.
 */
const LOSS_RTOL = 1e-4;
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
    const runs = [
      ["cpu", "training"],
      ["wasm", "training"],
      ["cpu", "onnxruntime"],
      ["wasm", "onnxruntime"],
    ] as const;
    for (const [backend, kernels] of runs) {
      const curve = await lossCurve(backend, kernels);
      expect(curve).toHaveLength(STEPS);
      curve.forEach((loss, i) => {
        const ref = reference[i] as number;
        expect(
          Math.abs(loss - ref) / Math.abs(ref),
          `${backend} + ${kernels} step ${i}: ${loss} vs ${ref}`,
        ).toBeLessThan(LOSS_RTOL);
      });
    }
  });
});
