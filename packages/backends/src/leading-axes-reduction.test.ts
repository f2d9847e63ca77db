import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededValues } from "../test/conv-check.js";
import { leadingAxisCount } from "./leading-axes-reduction.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

const CASES: Array<{ shape: number[]; axis: number | number[]; keepDims: boolean }> = [
  { shape: [4, 5, 6, 3], axis: [0, 1, 2], keepDims: false }, // BatchNorm's statistics and gradient
  { shape: [4, 5, 6, 3], axis: [2, 0, 1], keepDims: true },
  { shape: [4, 5, 6, 3], axis: [0, 1, 2, 3], keepDims: false },
  { shape: [7, 3], axis: 0, keepDims: false },
  { shape: [7, 3], axis: -1, keepDims: false }, // not leading: the backend's own kernel
  { shape: [2, 3, 4], axis: [0, 2], keepDims: true }, // not leading either
  { shape: [9], axis: [0], keepDims: true },
];

describe("leadingAxisCount", () => {
  it("accepts exactly the leading axes, in any order and with negative indices", () => {
    expect(leadingAxisCount([0, 1, 2], 4)).toBe(3);
    expect(leadingAxisCount([1, 0], 4)).toBe(2);
    expect(leadingAxisCount(-4, 4)).toBe(1);
    expect(leadingAxisCount([1, 2], 4)).toBe(-1);
    expect(leadingAxisCount([0, 2], 4)).toBe(-1);
  });
});

describe.each(["cpu", "wasm"] as const)("Sum and Mean on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { trainingKernels: false });
  });
  afterAll(() => unregisterTrainingKernels());

  it.each(
    CASES.map(
      (c) => [`[${c.shape}] axis ${JSON.stringify(c.axis)} keepDims ${c.keepDims}`, c] as const,
    ),
  )("%s equals the backend's own kernels", (_name, c) => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor(seededValues(tf.util.sizeFromShape(c.shape), 3), c.shape);
        const s = tf.sum(x, c.axis, c.keepDims);
        const m = tf.mean(x, c.axis, c.keepDims);
        return { shapes: [s.shape, m.shape], sum: s.dataSync(), mean: m.dataSync() };
      });
    unregisterTrainingKernels();
    const expected = run();
    registerTrainingKernels();
    const before = tf.memory().numTensors;
    const actual = run();
    expect(tf.memory().numTensors).toBe(before);
    expect(actual.shapes).toEqual(expected.shapes);
    for (const key of ["sum", "mean"] as const) {
      expect(actual[key].length).toBe(expected[key].length);
      for (const [i, v] of actual[key].entries()) {
        expect(v).toBeCloseTo(expected[key][i] as number, 5);
      }
    }
  });
});

describe("Sum and Mean on wasm's SIMD loops (channels in fours)", () => {
  beforeAll(async () => {
    await useBackend("wasm", { threads: 2, onnxruntime: false });
  });
  afterAll(() => unregisterTrainingKernels());

  it.each([
    [
      [1024, 9, 9, 24],
      [0, 1, 2],
    ], // a bias gradient's shape (fastResNet's stem, fewer images)
    [[5000, 16], [0]],
    [
      [3, 7, 4],
      [0, 1],
    ],
  ] as const)("[%s] over %s equals a float64 sum to float32 precision", (shape, axis) => {
    const n = tf.util.sizeFromShape([...shape]);
    const v = seededValues(n, 8);
    const C = shape[shape.length - 1] as number;
    const rows = n / C;
    const exact = new Float64Array(C);
    const magnitude = new Float64Array(C);
    for (let i = 0; i < n; i++) {
      exact[i % C] = (exact[i % C] as number) + (v[i] as number);
      magnitude[i % C] = (magnitude[i % C] as number) + Math.abs(v[i] as number);
    }
    const [sum, mean] = tf.tidy(() => {
      const x = tf.tensor(v, [...shape]);
      return [tf.sum(x, [...axis]).dataSync(), tf.mean(x, [...axis]).dataSync()];
    });
    for (let c = 0; c < C; c++) {
      // Float32 within tiles of ≥ 128 rows, float64 across them: far inside 1e-6 of Σ|v|.
      expect(Math.abs((sum[c] as number) - (exact[c] as number))).toBeLessThan(
        1e-6 * (magnitude[c] as number),
      );
      expect(Math.abs((mean[c] as number) - (exact[c] as number) / rows)).toBeLessThan(
        (1e-6 * (magnitude[c] as number)) / rows,
      );
    }
  });

  it("propagates NaN and infinities as a sum does", () => {
    const v = new Float32Array(4 * 600).fill(1);
    v[4 * 300 + 1] = Number.NaN;
    v[4 * 10 + 2] = Number.POSITIVE_INFINITY;
    v[4 * 500 + 3] = Number.NEGATIVE_INFINITY;
    v[4 * 501 + 3] = Number.POSITIVE_INFINITY;
    const s = tf.tidy(() => tf.sum(tf.tensor(v, [600, 4]), 0).dataSync());
    expect(s[0]).toBe(600);
    expect(s[1]).toBeNaN();
    expect(s[2]).toBe(Number.POSITIVE_INFINITY);
    expect(s[3]).toBeNaN();
  });
});
