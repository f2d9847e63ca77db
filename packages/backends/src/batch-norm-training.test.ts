import "@tensorflow/tfjs-backend-cpu";
import { BATCH_NORM_TRAINING_KERNELS, batchNormTraining } from "@cnnkit/resnet";
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from "@cnnkit/resnet/kernel-names";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { relativeError, seededValues } from "../test/conv-check.js";
import { BackendError } from "./errors.js";
import { unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

const EPS = 1e-5;
/** Float32 rounding only: the kernels sum in float64, tfjs's ops in float32. */
const RTOL = 1e-5;

interface Outputs {
  y: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  dx: Float32Array;
  dGamma: Float32Array;
  dBeta: Float32Array;
}

/** Forward and all three gradients of sum(w · BN(x)), through `batchNormTraining`. */
function run(shape: number[], seed: number): Outputs {
  return tf.tidy(() => {
    const size = shape.reduce((a, b) => a * b, 1);
    const c = shape[shape.length - 1] as number;
    // An offset and a scale per channel, so mean and variance are far from 0 and 1.
    const x = tf.add(tf.mul(tf.tensor(seededValues(size, seed), shape), 3), 1.5);
    const w = tf.tensor(seededValues(size, seed + 1), shape);
    const gamma = tf.add(tf.tensor1d(seededValues(c, seed + 2)), 1);
    const beta = tf.tensor1d(seededValues(c, seed + 3));
    const stats: tf.Tensor[] = [];
    const f = (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const r = batchNormTraining(xi, g, b, EPS);
      stats.push(r.mean, r.variance);
      return tf.sum(tf.mul(r.y, w));
    };
    const y = batchNormTraining(x, gamma, beta, EPS);
    const [dx, dGamma, dBeta] = tf.grads(f)([x, gamma, beta]) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const values = (t: tf.Tensor) => t.dataSync() as Float32Array;
    return {
      y: values(y.y),
      mean: values(y.mean),
      variance: values(y.variance),
      dx: values(dx),
      dGamma: values(dGamma),
      dBeta: values(dBeta),
    };
  });
}

const SHAPES = [
  [4, 6, 5, 3],
  [2, 8, 8, 16],
  [7, 10], // dense activations: [batch, features]
  // Channels in fours run the WebAssembly SIMD loops on wasm: three groups of four over three
  // row tiles, the last one partial (1100 rows; tiles of 341 for 12 channels).
  [11, 10, 10, 12],
  [3, 20, 20, 8], // 1200 rows, tiles of 512: the tiny net's first layers
];

const references = new Map<string, Outputs>();

describe.each(["cpu", "wasm"] as const)("fused training-mode BatchNorm on %s", (backend) => {
  afterAll(() => unregisterTrainingKernels());

  it.each(SHAPES.map((s) => [s.join("x"), s] as const))(
    "%s: y, statistics and gradients equal tfjs's ops to 1e-5",
    async (key, shape) => {
      if (!references.has(key)) {
        await useBackend("cpu", { trainingKernels: false });
        unregisterTrainingKernels();
        expect(tf.getKernel(BATCH_NORM_TRAINING, "cpu")).toBeUndefined();
        references.set(key, run(shape, 11));
      }
      await useBackend(backend);
      expect(tf.getKernel(BATCH_NORM_TRAINING, backend)).toBeDefined();
      const actual = run(shape, 11);
      const expected = references.get(key) as Outputs;
      for (const k of Object.keys(expected) as (keyof Outputs)[]) {
        expect(relativeError(actual[k], expected[k]), k).toBeLessThan(RTOL);
      }
    },
  );

  it("leaks no tensors and no backend buffers", async () => {
    await useBackend(backend);
    run([2, 4, 4, 3], 5);
    const tensors = tf.memory().numTensors;
    const dataIds = tf.engine().backend.numDataIds();
    run([2, 4, 4, 3], 5);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(dataIds);
  });

  it("rejects integer input with a BackendError naming the kernel", async () => {
    await useBackend(backend);
    const x = tf.zeros([2, 3], "int32");
    const g = tf.ones([3]);
    expect(() =>
      tf.engine().runKernel(BATCH_NORM_TRAINING, { x, gamma: g, beta: g }, { epsilon: EPS }),
    ).toThrow(BackendError);
    expect(() =>
      tf.engine().runKernel(BATCH_NORM_TRAINING, { x, gamma: g, beta: g }, { epsilon: EPS }),
    ).toThrow(/CnnkitBatchNormTraining on '(cpu|wasm)': expected a float32 tensor/);
    tf.dispose([x, g]);
  });
});

it("uses the kernel names @cnnkit/resnet looks for", () => {
  expect(BATCH_NORM_TRAINING_KERNELS).toEqual({
    forward: BATCH_NORM_TRAINING,
    gradient: BATCH_NORM_TRAINING_GRAD,
  });
});
