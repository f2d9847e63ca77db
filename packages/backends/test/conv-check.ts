// Compares the training kernels with tfjs's own cpu kernels (the reference) on given conv shapes.
// Shared by the tests (small shapes) and the full-shape check (`CNNKIT_ALL_SHAPES=1`, bench).
import * as tf from "@tensorflow/tfjs-core";
import {
  onnxRuntimeKernelsActive,
  registerOnnxRuntimeKernels,
  unregisterOnnxRuntimeKernels,
} from "../src/onnxruntime/register.js";
import {
  registerTrainingKernels,
  unregisterTrainingKernels,
} from "../src/register-training-kernels.js";
import { type ConvShape as ResnetConvShape, resnetConvShapes } from "../src/resnet-conv-shapes.js";

export interface GradCase {
  name: string;
  inputShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  stride: number | [number, number];
  pad: "same" | "valid" | number | tf.backend_util.ExplicitPadding;
}

/** Small shapes covering every padding/stride path of the gradient kernels, and two real layers. */
export const SMALL_CASES: GradCase[] = [
  {
    name: "3x3 s1 same",
    inputShape: [2, 6, 6, 3],
    filterShape: [3, 3, 3, 4],
    stride: 1,
    pad: "same",
  },
  {
    name: "3x3 s1 valid",
    inputShape: [2, 7, 5, 3],
    filterShape: [3, 3, 3, 2],
    stride: 1,
    pad: "valid",
  },
  {
    name: "3x3 s2 same, even",
    inputShape: [2, 8, 8, 4],
    filterShape: [3, 3, 4, 5],
    stride: 2,
    pad: "same",
  },
  {
    name: "3x3 s2 same, odd",
    inputShape: [1, 7, 9, 2],
    filterShape: [3, 3, 2, 3],
    stride: 2,
    pad: "same",
  },
  {
    name: "3x3 s2 valid, odd",
    inputShape: [2, 9, 7, 3],
    filterShape: [3, 3, 3, 2],
    stride: 2,
    pad: "valid",
  },
  {
    name: "1x1 s1 same",
    inputShape: [2, 5, 5, 4],
    filterShape: [1, 1, 4, 6],
    stride: 1,
    pad: "same",
  },
  {
    name: "1x1 s2 same",
    inputShape: [2, 8, 8, 4],
    filterShape: [1, 1, 4, 8],
    stride: 2,
    pad: "same",
  },
  {
    name: "1x1 s2 valid, odd",
    inputShape: [1, 7, 7, 3],
    filterShape: [1, 1, 3, 5],
    stride: 2,
    pad: "valid",
  },
  {
    name: "2x3 s[2,1] pad 1",
    inputShape: [2, 6, 5, 2],
    filterShape: [2, 3, 2, 3],
    stride: [2, 1],
    pad: 1,
  },
  {
    name: "3x3 s1 explicit pad larger than k-1",
    inputShape: [1, 4, 4, 2],
    filterShape: [3, 3, 2, 2],
    stride: 1,
    pad: [
      [0, 0],
      [3, 1],
      [0, 2],
      [0, 0],
    ],
  },
  // Channel counts in multiples of 8: the blocked (NCHWc) graphs of the ONNX Runtime kernels.
  {
    name: "3x3 s1 same 8->16 (NCHWc)",
    inputShape: [2, 6, 6, 8],
    filterShape: [3, 3, 8, 16],
    stride: 1,
    pad: "same",
  },
  {
    name: "3x3 s1 valid 16->8 (NCHWc)",
    inputShape: [2, 7, 5, 16],
    filterShape: [3, 3, 16, 8],
    stride: 1,
    pad: "valid",
  },
  {
    name: "1x1 s1 same 16->16 (NCHWc)",
    inputShape: [2, 5, 5, 16],
    filterShape: [1, 1, 16, 16],
    stride: 1,
    pad: "same",
  },
  {
    name: "3x3 s2 same 8->8, odd (NCHWc)",
    inputShape: [1, 7, 9, 8],
    filterShape: [3, 3, 8, 8],
    stride: 2,
    pad: "same",
  },
  // The three ways the ONNX Runtime filter gradient samples its taps (stride 1): per image on
  // outputs of 32x32 and more, channel-major on 16x16 to 32x32, pixel-major below.
  {
    name: "3x3 s1 same 8->8 @32, batch 2 (per-image filter gradient)",
    inputShape: [2, 32, 32, 8],
    filterShape: [3, 3, 8, 8],
    stride: 1,
    pad: "same",
  },
  {
    name: "3x3 s1 same 4->6 @16 (channel-major filter gradient)",
    inputShape: [2, 16, 16, 4],
    filterShape: [3, 3, 4, 6],
    stride: 1,
    pad: "same",
  },
  // The smallest real ResNet layers, batch 1 and 4.
  {
    name: "stem 3->16 @32",
    inputShape: [1, 32, 32, 3],
    filterShape: [3, 3, 3, 16],
    stride: 1,
    pad: "same",
  },
  {
    name: "3x3 s2 16->32 @32",
    inputShape: [4, 32, 32, 16],
    filterShape: [3, 3, 16, 32],
    stride: 2,
    pad: "same",
  },
];

// Every conv of every ResNet, opt-in because the cpu reference kernels are naive loops (its
// Conv2DBackpropFilter ~50x slower than its forward conv):
//   CNNKIT_ALL_SHAPES=1     every shape at batch 1, plus batch 64 for every conv as small as the
//                           narrow (16/32/64) net's (<= 160 M multiply-adds): tens of minutes;
//   CNNKIT_ALL_SHAPES=full  every shape at batch 1 and 64: hours on a 2-core machine.
/** Multiply-adds of the forward conv; the narrow net's convs are all <= 151 M at batch 64. */
const macs = (s: ResnetConvShape) => {
  const [n, h, w] = s.inputShape;
  const [kh, kw, cin, cout] = s.filterShape;
  return (n * Math.ceil(h / s.stride) * Math.ceil(w / s.stride) * kh * kw * cin * cout) as number;
};

/** The ResNet conv shapes `CNNKIT_ALL_SHAPES` (`"1"` or `"full"`) asks for; none otherwise. */
export function allShapeCases(all: string | undefined): GradCase[] {
  if (all !== "1" && all !== "full") return [];
  return [1, 64].flatMap((b) =>
    resnetConvShapes(b)
      .filter((s) => b === 1 || all === "full" || macs(s) <= 160e6)
      .map((s) => ({ ...s, name: `${s.name} batch ${b}` })),
  );
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

/** Runs `f` on the cpu backend's original kernels, whatever is registered now. */
export function onReferenceKernels<T>(f: () => T): T {
  const previous = tf.getBackend();
  const ort = onnxRuntimeKernelsActive();
  if (ort) unregisterOnnxRuntimeKernels();
  unregisterTrainingKernels();
  try {
    if (previous !== "cpu") tf.setBackend("cpu");
    return f();
  } finally {
    registerTrainingKernels();
    if (ort) registerOnnxRuntimeKernels(ort);
    if (previous !== "cpu") tf.setBackend(previous);
  }
}

/** The cpu backend's original gradient kernels' results. */
export function referenceGrads(c: GradCase, seed = 1): GradResult {
  return onReferenceKernels(() => runGradKernels(c, seed));
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

/**
 * The active kernels' relative errors against the cpu reference for `c`. The reference is slow
 * on the full shapes, so it is computed once per case and kept in `cache` (shared by backends).
 */
export function gradErrors(
  c: GradCase,
  cache: Map<string, GradResult>,
): { dFilter: number; dInput: number } {
  const expected = cache.get(c.name) ?? referenceGrads(c);
  cache.set(c.name, expected);
  const actual = runGradKernels(c);
  return {
    dFilter: relativeError(actual.dFilter, expected.dFilter),
    dInput: relativeError(actual.dInput, expected.dInput),
  };
}

/** Trainable variables `${prefix}_w0`, `_w1`, … of these shapes, seeded from `seed` + index. */
export function seededVariables(
  prefix: string,
  shapes: readonly number[][],
  seed: number,
): tf.Variable[] {
  // In a tidy: the initial tensors go, the variables stay.
  return tf.tidy(() =>
    shapes.map((s, i) =>
      tf.variable(
        tf.tensor(
          seededValues(
            s.reduce((a, b) => a * b, 1),
            seed + i,
          ),
          s,
        ),
        true,
        `${prefix}_w${i}`,
      ),
    ),
  );
}
