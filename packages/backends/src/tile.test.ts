import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

const CASES: Array<{ shape: number[]; reps: number[]; dtype: "float32" | "int32" | "bool" }> = [
  { shape: [1, 1, 1, 5], reps: [2, 3, 4, 1], dtype: "float32" }, // BatchNorm's gradient
  { shape: [2, 3], reps: [3, 2], dtype: "float32" },
  { shape: [3], reps: [4], dtype: "int32" },
  { shape: [2, 1, 3], reps: [1, 5, 2], dtype: "bool" },
  { shape: [2, 2, 2, 2], reps: [1, 1, 1, 1], dtype: "float32" },
  { shape: [2, 3], reps: [0, 2], dtype: "float32" },
];

function tileValues(c: (typeof CASES)[number]): { shape: number[]; values: number[] } {
  return tf.tidy(() => {
    const n = c.shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(
      Array.from({ length: n }, (_, i) => (c.dtype === "bool" ? i % 2 : i * 1.5 - 3)),
      c.shape,
      c.dtype,
    );
    const y = tf.tile(x, c.reps);
    return { shape: y.shape, values: Array.from(y.dataSync()) };
  });
}

describe.each(["cpu", "wasm"] as const)("Tile on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { trainingKernels: false });
  });
  afterAll(() => unregisterTrainingKernels());

  it.each(CASES.map((c) => [`${c.dtype} [${c.shape}] x [${c.reps}]`, c] as const))(
    "%s equals the backend's own Tile",
    (_name, c) => {
      unregisterTrainingKernels();
      const expected = tileValues(c);
      registerTrainingKernels();
      const before = tf.memory().numTensors;
      expect(tileValues(c)).toEqual(expected);
      expect(tf.memory().numTensors).toBe(before);
    },
  );
});
