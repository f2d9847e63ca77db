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
