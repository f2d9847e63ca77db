import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sliceInto } from "./memory-kernels.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

/** The slice by definition: every output element's source index, one at a time. */
function naiveSlice(
  x: Float32Array,
  shape: number[],
  begin: number[],
  size: number[],
): Float32Array {
  const n = size.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let rest = i;
    let src = 0;
    let stride = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      const idx = rest % (size[d] as number);
      rest = Math.floor(rest / (size[d] as number));
      src += (idx + (begin[d] as number)) * stride;
      stride *= shape[d] as number;
    }
    out[i] = x[src] as number;
  }
  return out;
}

const SLICES: Array<{ shape: number[]; begin: number[]; size: number[] }> = [
  { shape: [2, 6, 6, 3], begin: [0, 1, 1, 0], size: [2, 4, 4, 3] }, // the padding's gradient
  { shape: [2, 5, 7, 20], begin: [1, 0, 2, 0], size: [1, 5, 3, 20] }, // runs >= 16
  { shape: [3, 4, 5], begin: [0, 0, 1], size: [3, 4, 3] }, // innermost dim cut
  { shape: [4, 6], begin: [1, 0], size: [2, 6] }, // contiguous
  { shape: [2, 3, 4, 5, 6], begin: [1, 0, 1, 2, 0], size: [1, 3, 2, 3, 6] },
  { shape: [5], begin: [2], size: [3] },
  { shape: [3, 3, 3], begin: [0, 0, 0], size: [3, 3, 3] }, // everything
];

describe("sliceInto", () => {
  it.each(SLICES.map((c) => [`[${c.shape}] from [${c.begin}] size [${c.size}]`, c] as const))(
    "%s equals the element-by-element definition",
    (_name, c) => {
      const n = c.shape.reduce((a, b) => a * b, 1);
      const x = Float32Array.from({ length: n }, (_, i) => i + 0.5);
      const out = new Float32Array(c.size.reduce((a, b) => a * b, 1)).fill(Number.NaN);
      sliceInto(x, c.shape, c.begin, c.size, out);
      expect(Array.from(out)).toEqual(Array.from(naiveSlice(x, c.shape, c.begin, c.size)));
    },
  );

  it("copies a scalar", () => {
    const out = new Float32Array(1);
    sliceInto(Float32Array.of(7), [], [], [], out);
    expect(out[0]).toBe(7);
  });
});

describe.each(["cpu", "wasm"] as const)("memory kernels on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { trainingKernels: false, onnxruntime: false });
  });
  afterAll(() => unregisterTrainingKernels());

  const sliceCases = [
    ...SLICES.map((c) => ({ ...c, dtype: "float32" as const })),
    { shape: [2, 4, 3], begin: [0, 1, 0], size: [2, -1, 2], dtype: "int32" as const },
    { shape: [3, 5], begin: [1, 1], size: [2, 3], dtype: "bool" as const },
  ];
  const sliceOf = (c: (typeof sliceCases)[number]) =>
    tf.tidy(() => {
      const n = c.shape.reduce((a, b) => a * b, 1);
      const values = Array.from({ length: n }, (_, i) => (c.dtype === "bool" ? i % 3 : i - 7.25));
      const y = tf.slice(tf.tensor(values, c.shape, c.dtype), c.begin, c.size);
      return { shape: y.shape, dtype: y.dtype, values: Array.from(y.dataSync()) };
    });

  it.each(sliceCases.map((c) => [`${c.dtype} [${c.shape}] from [${c.begin}]`, c] as const))(
    "Slice of %s equals the backend's own",
    (_name, c) => {
      unregisterTrainingKernels();
      const expected = sliceOf(c);
      registerTrainingKernels();
      const before = tf.memory().numTensors;
      expect(sliceOf(c)).toEqual(expected);
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it("clones and same-dtype casts share memory, and stay valid when the original goes", () => {
    registerTrainingKernels();
    const x = tf.tensor([1.5, -2, 3], [3]);
    const buffers = tf.memory().numDataBuffers;
    const y = tf.clone(x);
    const z = tf.cast(x, "float32");
    // On cpu the backend shares of its own; on wasm it copied before these kernels.
    expect(tf.memory().numDataBuffers).toBe(buffers);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1.5, -2, 3]);
    y.dispose();
    expect(Array.from(z.dataSync())).toEqual([1.5, -2, 3]);
    z.dispose();
    expect(tf.memory().numDataBuffers).toBe(buffers - 1);
  });

  it("casts to another dtype still convert", () => {
    registerTrainingKernels();
    tf.tidy(() => {
      const x = tf.tensor([1.7, -2.2, 0], [3]);
      expect(Array.from(tf.cast(x, "int32").dataSync())).toEqual([1, -2, 0]);
      expect(Array.from(tf.cast(tf.tensor([1, 0, 1], [3], "bool"), "float32").dataSync())).toEqual([
        1, 0, 1,
      ]);
    });
  });

  it("gradients flow through the shared clones autodiff saves", () => {
    registerTrainingKernels();
    const x = tf.tensor([0.5, -1, 2], [3]);
    // d/dx Σ relu(x)·x² = step(x)·3x²
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), tf.square(t))))(x);
    expect(Array.from(g.dataSync())).toEqual([0.75, 0, 12]);
    tf.dispose([x, g]);
  });
});
