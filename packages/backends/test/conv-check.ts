// Compares the training kernels with tfjs's own cpu kernels (the reference) on given conv shapes.
// Shared by the tests (small shapes), the all-shapes check (test/all-shapes.test.ts) and the bench.
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
import { resnetConvShapes } from "../src/resnet-conv-shapes.js";

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
  // Stride-1 filter gradients on larger outputs. The ways the ONNX Runtime filter gradient can
  // sample its taps (channel-major in groups of images from 32,768 rows, pixel-major below) are
  // each checked in src/onnxruntime/graph-plans.test.ts.
  {
    name: "3x3 s1 same 8->8 @32, batch 2",
    inputShape: [2, 32, 32, 8],
    filterShape: [3, 3, 8, 8],
    stride: 1,
    pad: "same",
  },
  {
    name: "3x3 s1 same 4->6 @16",
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

// Every conv of every ResNet (test/all-shapes.test.ts). The cpu reference kernels are naive loops
// (Conv2DBackpropFilter ~50x slower than the forward conv), so the check's size is a choice:
//   CI (CI set, CNNKIT_ALL_SHAPES unset) or CNNKIT_ALL_SHAPES=1: every shape at batch 1, and again
//       at batch floor(CI_MACS / its multiply-adds per image), at most 64, where that is >= 2,
//       rounded down to a multiple of 16 from 16 on (whole NCHWc blocks of images, with a block of
//       8 or 16: ONNX Runtime's filter gradient then takes its blocked plan, the tap plans below);
//   CNNKIT_ALL_SHAPES=full: every shape at batch 1 and 64 (hours on a 2-core machine);
//   CNNKIT_ALL_SHAPES=0: none, on CI too.
/** Multiply-adds of one image's forward conv. */
export function convMacs(c: GradCase): number {
  const [, oh, ow] = outputShape(imageCase(c));
  const [kh, kw, cin, cout] = c.filterShape;
  return oh * ow * kh * kw * cin * cout;
}

/**
 * The multiply-adds per shape of the larger-batch pass on CI: at 32 M, batches run from 64 (the
 * 8-16 channel convs) down to 2 (the widest nets' 3x3 convs); wider shapes run at batch 1 only.
 */
export const CI_MACS = 32e6;

/** What `CNNKIT_ALL_SHAPES` and `CI` ask for: `"ci"`, `"full"` or nothing. */
export function allShapesSetting(env: NodeJS.ProcessEnv = process.env): "ci" | "full" | null {
  return checkSetting(env.CNNKIT_ALL_SHAPES, "full", env.CI);
}

/**
 * A check's variable: its named setting, `1` for CI's, and when unset (or empty) CI's where `CI`
 * is set; any other value (`0`) turns the check off.
 */
function checkSetting<T extends string>(
  value: string | undefined,
  named: T,
  ci: string | undefined,
): T | "ci" | null {
  if (value === named) return named;
  if (value === "1") return "ci";
  if (value !== undefined && value !== "") return null;
  return ci !== undefined && ci !== "" && ci !== "0" && ci !== "false" ? "ci" : null;
}

/** CI's larger batch for a shape that fits `fits` images in CI_MACS (see above). */
const ciBatch = (fits: number) => {
  const b = Math.min(64, fits);
  return b >= 16 ? b - (b % 16) : b;
};

/** The ResNet conv shapes of a setting (see above), each named with its batch. */
export function allShapeCases(setting: "ci" | "full" | null): GradCase[] {
  if (setting === null) return [];
  const once = resnetConvShapes(1);
  const batches = once.map((s) =>
    setting === "full" ? 64 : ciBatch(Math.floor(CI_MACS / convMacs(s))),
  );
  return [
    ...once.map((s) => ({ ...s, name: `${s.name} batch 1` })),
    ...once.flatMap((s, i) => {
      const b = batches[i] as number;
      if (b < 2) return [];
      const [, h, w, c] = s.inputShape;
      return [{ ...s, inputShape: [b, h, w, c], name: `${s.name} batch ${b}` } satisfies GradCase];
    }),
  ];
}

// The WebGPU checks (test/webgpu-browser.test.ts) run on a software adapter here (SwiftShader),
// against the same naive cpu reference, so they take every ResNet shape at batch 1 only (the batch
// changes no WebGPU shader's choice that the small cases' batch 2 does not cover):
//   CI (CI set, CNNKIT_WEBGPU unset), CNNKIT_WEBGPU=1 or =all: the small cases and every ResNet
//       shape at batch 1 (62 shapes; 71 s of checks and 19 s of cpu reference on this 2-core VM);
//   CNNKIT_WEBGPU=0: none, on CI too.
/** Whether `CNNKIT_WEBGPU` and `CI` ask for the WebGPU checks: `"all"` or nothing. */
export function webgpuSetting(env: NodeJS.ProcessEnv = process.env): "all" | null {
  return checkSetting(env.CNNKIT_WEBGPU, "all", env.CI) === null ? null : "all";
}

/** The conv cases of the WebGPU checks (see above): the small cases, then every ResNet shape. */
export function webgpuCases(setting: "all" | null): GradCase[] {
  if (setting === null) return [];
  return [...SMALL_CASES, ...allShapeCases("ci").filter((c) => c.inputShape[0] === 1)];
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

/** A case's inputs: seeded values of x, the filter and dy (seeds `seed`, +1, +2). */
interface GradData {
  x: Float32Array;
  filter: Float32Array;
  dy: Float32Array;
}

function gradData(c: GradCase, seed: number): GradData {
  return {
    x: seededValues(tf.util.sizeFromShape(c.inputShape), seed),
    filter: seededValues(tf.util.sizeFromShape(c.filterShape), seed + 1),
    dy: seededValues(tf.util.sizeFromShape(outputShape(c)), seed + 2),
  };
}

/** Runs both gradient kernels on the active backend through the engine, returning their values. */
export function runGradKernels(c: GradCase, seed = 1): GradResult {
  return runGradKernelsOn(c, gradData(c, seed));
}

/**
 * {@link runGradKernels}, read back asynchronously: webgpu can read a tensor synchronously only in
 * a browser (through a canvas), not in Node.
 */
export function runGradKernelsAsync(c: GradCase, seed = 1): Promise<GradResult> {
  return readLater(gradTensors(c, gradData(c, seed)));
}

function runGradKernelsOn(c: GradCase, d: GradData): GradResult {
  return readNow(gradTensors(c, d));
}

/** The tensors' values, read synchronously; the tensors are disposed. */
function readNow<K extends string>(tensors: Record<K, tf.Tensor>): Record<K, Float32Array> {
  const entries = Object.entries<tf.Tensor>(tensors);
  try {
    return Object.fromEntries(entries.map(([k, t]) => [k, t.dataSync()])) as Record<
      K,
      Float32Array
    >;
  } finally {
    tf.dispose(entries.map(([, t]) => t));
  }
}

/** {@link readNow}, reading asynchronously. */
async function readLater<K extends string>(
  tensors: Record<K, tf.Tensor>,
): Promise<Record<K, Float32Array>> {
  const entries = Object.entries<tf.Tensor>(tensors);
  try {
    const values = await Promise.all(entries.map(([, t]) => t.data()));
    return Object.fromEntries(entries.map(([k], i) => [k, values[i]])) as Record<K, Float32Array>;
  } finally {
    tf.dispose(entries.map(([, t]) => t));
  }
}

function gradTensors(c: GradCase, d: GradData): { dFilter: tf.Tensor; dInput: tf.Tensor } {
  return tf.tidy(() => {
    const x = tf.tensor4d(d.x, c.inputShape);
    const filter = tf.tensor4d(d.filter, c.filterShape);
    const dy = tf.tensor4d(d.dy, outputShape(c));
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
    return { dFilter, dInput };
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

/**
 * The cpu backend's original gradient kernels' results, computed one image at a time (the filter
 * gradient is the sum of the images', added in float64): tfjs's filter-gradient loop rescans the
 * whole batch for every filter element, and once x and dy outgrow the cache each image costs
 * many times more (measured: 14x per image for 512->512 at 4x4 at batch 4 against batch 1).
 */
export function referenceGrads(c: GradCase, seed = 1): GradResult {
  const d = gradData(c, seed);
  return onReferenceKernels(() => {
    const n = c.inputShape[0];
    if (n === 1) return runGradKernelsOn(c, d);
    const one = imageCase(c);
    const xSize = d.x.length / n;
    const dySize = d.dy.length / n;
    const dFilter = new Float64Array(d.filter.length);
    const dInput = new Float32Array(d.x.length);
    for (let i = 0; i < n; i++) {
      const r = runGradKernelsOn(one, {
        x: d.x.subarray(i * xSize, (i + 1) * xSize),
        filter: d.filter,
        dy: d.dy.subarray(i * dySize, (i + 1) * dySize),
      });
      r.dFilter.forEach((v, j) => {
        dFilter[j] = (dFilter[j] as number) + v;
      });
      dInput.set(r.dInput, i * xSize);
    }
    return { dFilter: Float32Array.from(dFilter), dInput };
  });
}

/** The case at batch 1. */
function imageCase(c: GradCase): GradCase {
  const [, h, w, ch] = c.inputShape;
  return { ...c, inputShape: [1, h, w, ch] };
}

export interface ForwardResult {
  /** `Conv2D`'s output. */
  plain: Float32Array;
  /** `FusedConv2D`'s, with a per-channel bias and ReLU. */
  fused: Float32Array;
}

/** Forward conv, plain and fused (per-channel bias + ReLU), on the active kernels. */
export function runForward(c: GradCase): ForwardResult {
  return readNow(forwardTensors(c, forwardData(c)));
}

/** {@link runForward}, read back asynchronously (see {@link runGradKernelsAsync}). */
export function runForwardAsync(c: GradCase): Promise<ForwardResult> {
  return readLater(forwardTensors(c, forwardData(c)));
}

interface ForwardData {
  x: Float32Array;
  filter: Float32Array;
  bias: Float32Array;
}

function forwardData(c: GradCase): ForwardData {
  return {
    x: seededValues(tf.util.sizeFromShape(c.inputShape), 7),
    filter: seededValues(tf.util.sizeFromShape(c.filterShape), 8),
    bias: seededValues(c.filterShape[3], 9),
  };
}

function forwardTensors(c: GradCase, d: ForwardData): { plain: tf.Tensor; fused: tf.Tensor } {
  return tf.tidy(() => {
    const x = tf.tensor4d(d.x, c.inputShape);
    const filter = tf.tensor4d(d.filter, c.filterShape);
    const bias = tf.tensor1d(d.bias);
    const pad = c.pad as "same";
    const plain = tf.conv2d(x, filter, c.stride, pad);
    const fused = tf.fused.conv2d({ x, filter, strides: c.stride, pad, bias, activation: "relu" });
    expectShape(plain.shape, outputShape(c), `${c.name} Conv2D`);
    expectShape(fused.shape, outputShape(c), `${c.name} FusedConv2D`);
    return { plain, fused };
  });
}

/** {@link runForward} on the cpu backend's original kernels, one image at a time. */
export function referenceForward(c: GradCase): ForwardResult {
  const n = c.inputShape[0];
  const { x, filter, bias } = forwardData(c);
  const one = imageCase(c);
  const xSize = x.length / n;
  const ySize = tf.util.sizeFromShape(outputShape(c)) / n;
  const plain = new Float32Array(ySize * n);
  const fused = new Float32Array(ySize * n);
  onReferenceKernels(() => {
    for (let i = 0; i < n; i++) {
      const r = readNow(
        forwardTensors(one, { x: x.subarray(i * xSize, (i + 1) * xSize), filter, bias }),
      );
      plain.set(r.plain, i * ySize);
      fused.set(r.fused, i * ySize);
    }
  });
  return { plain, fused };
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
  return compareGrads(runGradKernels(c), cachedReference(c, cache));
}

/** {@link gradErrors}, reading the active backend asynchronously (webgpu in Node). */
export async function gradErrorsAsync(
  c: GradCase,
  cache: Map<string, GradResult>,
): Promise<{ dFilter: number; dInput: number }> {
  const expected = cachedReference(c, cache);
  return compareGrads(await runGradKernelsAsync(c), expected);
}

function cachedReference(c: GradCase, cache: Map<string, GradResult>): GradResult {
  const expected = cache.get(c.name) ?? referenceGrads(c);
  cache.set(c.name, expected);
  return expected;
}

function compareGrads(
  actual: GradResult,
  expected: GradResult,
): { dFilter: number; dInput: number } {
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
