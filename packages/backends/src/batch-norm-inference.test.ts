import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeFusedBatchNorm } from "./batch-norm-inference.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";
import { simdLoops } from "./wasm-simd.js";

beforeAll(async () => {
  // Two threads: the wasm heap is then shared, and the SIMD loops' helper thread takes part.
  await useBackend("wasm", { threads: 2, trainingKernels: false, onnxruntime: false });
  expect(simdLoops(tf.backend())).not.toBeNull();
});
afterAll(() => unregisterTrainingKernels());

/** tfjs-backend-wasm's own FusedBatchNorm (registerTrainingKernels replaces it). */
function wasmOwn(): tf.KernelFunc {
  unregisterTrainingKernels();
  const own = tf.getKernel("FusedBatchNorm", "wasm")?.kernelFunc;
  if (own == null) throw new Error("no FusedBatchNorm on wasm");
  return own;
}

interface Inputs {
  x: tf.Tensor;
  mean: tf.Tensor;
  variance: tf.Tensor;
  offset?: tf.Tensor;
  scale?: tf.Tensor;
}

function run(kernel: tf.KernelFunc, inputs: Inputs, varianceEpsilon: number): Float32Array {
  const info = kernel({
    inputs: inputs as unknown as tf.NamedTensorInfoMap,
    attrs: { varianceEpsilon },
    backend: tf.backend(),
  }) as tf.TensorInfo;
  const y = tf.engine().makeTensorFromTensorInfo(info);
  expect(y.shape).toEqual(inputs.x.shape);
  const values = y.dataSync() as Float32Array;
  y.dispose();
  return values;
}

/** Indices where a and b differ in their bits (NaN equal to NaN). */
function differences(a: Float32Array, b: Float32Array): number[] {
  expect(a.length).toBe(b.length);
  const [ai, bi] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer)];
  const out: number[] = [];
  for (let i = 0; i < a.length && out.length < 10; i++) {
    if (ai[i] !== bi[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) out.push(i);
  }
  return out;
}

/** Deterministic values: a spread of magnitudes, with ±0, ±∞, NaN, denormals and huge ones mixed in. */
function values(n: number, seed: number, spread = 4): Float32Array {
  const special = [0, -0, 1e-45, -1e-40, 3e38, -3e38, Infinity, -Infinity, Number.NaN];
  let a = seed >>> 0;
  return Float32Array.from({ length: n }, (_, i) => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    if (i % 97 === 13) return special[(a >>> 8) % special.length] as number;
    return ((a / 2 ** 32) * 2 - 1) * spread;
  });
}

/** Per-channel values for C channels: variances ≥ 0 (some 0), scales of both signs. */
function channels(C: number, seed: number) {
  return {
    mean: tf.tensor1d(values(C, seed)),
    variance: tf.tensor1d(values(C, seed + 1).map((v, i) => (i % 5 === 0 ? 0 : Math.abs(v) ** 3))),
    offset: tf.tensor1d(values(C, seed + 2)),
    scale: tf.tensor1d(values(C, seed + 3)),
  };
}

describe("FusedBatchNorm on wasm (BatchNorm at inference)", () => {
  // [2,5,5,24]: a few rows, on the calling thread; [8,64,64,64] and [64,16,16,128]: 8 MB, in
  // many calls that the helper thread shares when awake; [1,1,1,1024]: the most channels the
  // loops take; [12,8]: rank 2.
  it.each([
    [[2, 5, 5, 24], 1e-3],
    [[8, 64, 64, 64], 1e-5],
    [[64, 16, 16, 128], 1e-3],
    [[1, 1, 1, 1024], 0.1],
    [[12, 8], 1e-3],
  ] as const)("gives wasm's own kernel's bits on %j (epsilon %f)", (shape, eps) => {
    const own = wasmOwn();
    const ours = makeFusedBatchNorm("wasm", own);
    const C = shape[shape.length - 1] as number;
    const n = shape.reduce((a: number, b: number) => a * b, 1);
    const inputs = { x: tf.tensor(values(n, 7, 8), [...shape]), ...channels(C, 11) };
    const before = tf.memory().numTensors;
    const got = run(ours, inputs, eps);
    expect(tf.memory().numTensors).toBe(before);
    expect(differences(got, run(own, inputs, eps))).toEqual([]);
    tf.dispose(Object.values(inputs));
  });

  it("without scale and offset, computes (x - mean) / √(variance + ε) as with scale 1, offset 0", () => {
    const ours = makeFusedBatchNorm("wasm", wasmOwn());
    const { mean, variance } = channels(8, 3);
    const x = tf.tensor2d(values(64, 5), [8, 8]);
    const got = run(ours, { x, mean, variance }, 1e-3);
    const [scale, offset] = [tf.ones([8]), tf.zeros([8])];
    expect(differences(got, run(ours, { x, mean, variance, scale, offset }, 1e-3))).toEqual([]);
    // The formula as the C++ loop computes it: x - mean in float32, the division in float64.
    const [xv, mv, vv] = [x.dataSync(), mean.dataSync(), variance.dataSync()];
    const f = Math.fround;
    const expected = Float32Array.from(xv, (v, i) => {
      const c = i % 8;
      return f(0 + f(v - (mv[c] as number)) / f(Math.sqrt(f((vv[c] as number) + f(1e-3)))));
    });
    expect(differences(got, expected)).toEqual([]);
    tf.dispose([x, mean, variance, scale, offset]);
  });

  it("falls back on wasm's own kernel where the loops' layout does not apply", () => {
    const own = wasmOwn();
    let fellBack = 0;
    const spy: tf.KernelFunc = (args) => {
      fellBack++;
      return own(args);
    };
    const ours = makeFusedBatchNorm("wasm", spy);
    // Channels not a multiple of 4.
    const six = { x: tf.tensor2d(values(36, 1), [6, 6]), ...channels(6, 2) };
    expect(differences(run(ours, six, 1e-3), run(own, six, 1e-3))).toEqual([]);
    expect(fellBack).toBe(1);
    // Per-element values (the layer's non-standard axes broadcast this way): not per channel.
    const x = tf.tensor2d(values(32, 4), [4, 8]);
    const full = {
      x,
      mean: tf.mul(x, 0.5),
      variance: tf.abs(x),
      offset: tf.add(x, 1),
      scale: tf.neg(x),
    };
    expect(differences(run(ours, full, 1e-3), run(own, full, 1e-3))).toEqual([]);
    expect(fellBack).toBe(2);
    tf.dispose([...Object.values(six), ...Object.values(full)]);
  });

  it("gives a BatchNormalization layer's inference the same bits, through registerTrainingKernels", () => {
    const layer = tfl.layers.batchNormalization({ epsilon: 1e-3 });
    const x = tf.tensor4d(values(2 * 6 * 6 * 32, 9), [2, 6, 6, 32]);
    layer.build(x.shape);
    // Moved statistics and learned parameters, as after training.
    layer.setWeights([
      tf.tensor1d(values(32, 21)),
      tf.tensor1d(values(32, 22)),
      tf.tensor1d(values(32, 23)),
      tf.tensor1d(values(32, 24).map(Math.abs)),
    ]);
    const own = wasmOwn();
    const plain = layer.apply(x, { training: false }) as tf.Tensor;
    registerTrainingKernels();
    expect(tf.getKernel("FusedBatchNorm", "wasm")?.kernelFunc).not.toBe(own);
    const fast = layer.apply(x, { training: false }) as tf.Tensor;
    expect(differences(fast.dataSync() as Float32Array, plain.dataSync() as Float32Array)).toEqual(
      [],
    );
    tf.dispose([x, plain, fast]);
  });
});
