// Shared test helpers: the cpu backend, tiny models with known weights, and comparisons.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { input, type LayersModel, layers, model } from "@tensorflow/tfjs-layers";
import { expect } from "vitest";

export async function useCpu(): Promise<void> {
  await tf.setBackend("cpu");
  await tf.ready();
}

/** Deterministic pseudo-random numbers in [-1, 1) (a tiny LCG), for weights and inputs. */
export function numbers(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * input [h, w, cin] → conv1x1 "features" (linear, no bias) → global average pool → dense
 * "logits": a model whose explained layer is linear in the input and whose head is linear, so
 * Grad-CAM has a closed form. Weights are set from `numbers` and returned for the expectation.
 */
export function linearModel(
  h = 4,
  w = 4,
  cin = 2,
  cout = 3,
  classes = 2,
): {
  model: LayersModel;
  kernel: Float32Array; // [cin, cout]
  dense: Float32Array; // [cout, classes]
} {
  const x = input({ shape: [h, w, cin], name: "input" });
  const features = layers
    .conv2d({ filters: cout, kernelSize: 1, useBias: false, name: "features" })
    .apply(x) as ReturnType<typeof input>;
  const pooled = layers.globalAveragePooling2d({ name: "pool" }).apply(features);
  const logits = layers
    .dense({ units: classes, useBias: true, name: "logits" })
    .apply(pooled) as ReturnType<typeof input>;
  const m = model({ inputs: x, outputs: logits, name: "linear" });
  const kernel = numbers(cin * cout, 7);
  const dense = numbers(cout * classes, 11);
  // setWeights copies into the variables, so the tensors made here can go with the tidy.
  tf.tidy(() => {
    m.getLayer("features").setWeights([tf.tensor4d(kernel, [1, 1, cin, cout])]);
    m.getLayer("logits").setWeights([tf.tensor2d(dense, [cout, classes]), tf.zeros([classes])]);
  });
  return { model: m, kernel, dense };
}

/** Every element within `tol` of the expectation (absolute), after checking the length. */
export function expectAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (Number.isNaN(d) || d > worst) worst = d; // a NaN anywhere stays the worst
  }
  expect(worst, `${what}: max abs difference`).toBeLessThanOrEqual(tol);
}
