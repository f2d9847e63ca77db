// Compares the training kernels with tfjs's own cpu kernels (the reference) on given conv shapes.
// Shared by the tests (small shapes) and the full-shape check (`CNNKIT_ALL_SHAPES=1`, bench).
import * as tf from "@tensorflow/tfjs-core";
import {
  registerTrainingKernels,
  unregisterTrainingKernels,
} from "../src/register-training-kernels.js";

export interface GradCase {
  name: string;
  inputShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  stride: number | [number, number];
  pad: "same" | "valid" | number | tf.backend_util.ExplicitPadding;
}

export interface GradResult {
  dFilter: Float32Array;
  dInput: Float32Array;
}

/** Deterministic values in [-1, 1) (mulberry32), so failures reproduce. */
export function seededValues(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2147483648 - 1;
  }
  return out;
}

export function outputShape(c: GradCase): [number, number, number, number] {
  const info = tf.backend_util.computeConv2DInfo(c.inputShape, c.filterShape, c.stride, 1, c.pad);
  return info.outShape as [number, number, number, number];
}

/** Runs both gradient kernels on the active backend through the engine, returning their values. */
export function runGradKernels(c: GradCase, seed = 1): GradResult {
  const dyShape = outputShape(c);
  return tf.tidy(() => {
    const x = tf.tensor4d(seededValues(tf.util.sizeFromShape(c.inputShape), seed), c.inputShape);
    const filter = tf.tensor4d(
      seededValues(tf.util.sizeFromShape(c.filterShape), seed + 1),
      c.filterShape,
    );
    const dy = tf.tensor4d(seededValues(tf.util.sizeFromShape(dyShape), seed + 2), dyShape);
    const common = {
      strides: c.stride,
      pad: c.pad,
      dataFormat: "NHWC",
      dimRoundingMode: undefined,
    };
    const engine = tf.engine();
    const dFilter = engine.runKernel("Conv2DBackpropFilter", { x, dy }, {
      ...common,
      filterShape: c.filterShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const dInput = engine.runKernel("Conv2DBackpropInput", { dy, filter }, {
      ...common,
      inputShape: c.inputShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    expectShape(dFilter.shape, c.filterShape, `${c.name} dFilter`);
    expectShape(dInput.shape, c.inputShape, `${c.name} dInput`);
    return {
      dFilter: dFilter.dataSync() as Float32Array,
      dInput: dInput.dataSync() as Float32Array,
    };
  });
}

function expectShape(got: readonly number[], want: readonly number[], what: string): void {
  if (got.join(",") !== want.join(","))
    throw new Error(`${what}: expected shape [${want}], got [${got}]`);
}

/** The cpu backend's original kernels, whatever is registered now. */
export function referenceGrads(c: GradCase, seed = 1): GradResult {
  const previous = tf.getBackend();
  unregisterTrainingKernels();
  try {
    if (previous !== "cpu") tf.setBackend("cpu");
    return runGradKernels(c, seed);
  } finally {
    registerTrainingKernels();
    if (previous !== "cpu") tf.setBackend(previous);
  }
}

/**
 * Largest error relative to the reference, elementwise against max(|ref|, rms(ref)): a plain
 * elementwise ratio would blow up on entries that cancel to ~0, whose absolute error is tiny.
 */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let sq = 0;
  for (const v of expected) sq += v * v;
  const rms = Math.sqrt(sq / Math.max(1, expected.length)) || 1;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    const a = actual[i] as number;
    const err = Math.abs(a - e) / Math.max(Math.abs(e), rms);
    if (Number.isNaN(err)) return Number.NaN;
    if (err > worst) worst = err;
  }
  return worst;
}
