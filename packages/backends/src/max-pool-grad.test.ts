import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededValues } from "../test/conv-check.js";
import { MAX_POOL_TIE, type MaxPoolTie, makeMaxPoolGrad, poolWindows } from "./max-pool-grad.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";
import { simdLoops } from "./wasm-simd.js";

type Pad = "valid" | "same" | number;
interface PoolCase {
  name: string;
  shape: [number, number, number, number];
  filter: number | [number, number];
  stride: number | [number, number];
  pad: Pad;
}

// Every MaxPool of fastResNet at its default widths [64, 256, 256], at three batch sizes, then
// odd geometries: clipped windows ('same', numeric padding), gaps (filter < stride), channel
// counts the SIMD loop does not take (not multiples of 4), windows wholly in the padding.
const FAST_RESNET: PoolCase[] = [1, 2, 5].flatMap((n) => [
  {
    name: `pool1 31→15 ×64, batch ${n}`,
    shape: [n, 31, 31, 64],
    filter: 2,
    stride: 2,
    pad: "valid",
  },
  {
    name: `pool1 15→7 ×256, batch ${n}`,
    shape: [n, 15, 15, 256],
    filter: 2,
    stride: 2,
    pad: "valid",
  },
  { name: `pool1 7→3 ×256, batch ${n}`, shape: [n, 7, 7, 256], filter: 2, stride: 2, pad: "valid" },
  { name: `head 3→1 ×256, batch ${n}`, shape: [n, 3, 3, 256], filter: 3, stride: 3, pad: "valid" },
]);
const ODD: PoolCase[] = [
  {
    name: "2×2/2 valid 31→15, 3 channels",
    shape: [2, 31, 31, 3],
    filter: 2,
    stride: 2,
    pad: "valid",
  },
  { name: "2×2/2 same 7×9 → 4×5", shape: [3, 7, 9, 8], filter: 2, stride: 2, pad: "same" },
  { name: "3×3/3 same 8×7, 6 channels", shape: [2, 8, 7, 6], filter: 3, stride: 3, pad: "same" },
  { name: "3×3/3 valid 10×11", shape: [2, 10, 11, 12], filter: 3, stride: 3, pad: "valid" },
  { name: "2×3/(2,3) valid", shape: [2, 9, 10, 4], filter: [2, 3], stride: [2, 3], pad: "valid" },
  { name: "2×2/3 valid: gaps", shape: [2, 11, 10, 4], filter: 2, stride: 3, pad: "valid" },
  { name: "2×2/2 pad 1", shape: [2, 6, 7, 8], filter: 2, stride: 2, pad: 1 },
  {
    name: "1×1/2 pad 2: windows in the padding",
    shape: [1, 5, 5, 4],
    filter: 1,
    stride: 2,
    pad: 2,
  },
];

const FLT_MIN = 1.1754943508222875e-38;

/**
 * Inputs with many ties: integers -2..2 (with -0 among the zeros), and every 37th value one of
 * NaN, ±Infinity, a denormal, FLT_MIN, -0. `positive` shifts everything above FLT_MIN (wasm's own
 * kernel is only right there, see max-pool-grad.ts).
 */
function tiedValues(n: number, seed: number, positive: boolean): Float32Array {
  const specials = [
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    1e-40,
    FLT_MIN,
    -0,
  ];
  return Float32Array.from(seededValues(n, seed), (v, i) => {
    const s = specials[(i / 37) % specials.length];
    const value = i % 37 === 0 && s !== undefined ? s : Math.round(2 * v);
    return positive ? (Number.isNaN(value) ? value : Math.max(value, -2) + 3) : value;
  });
}

/** dy: seeded values, some -0 and (with `nan`) some NaN. */
function dyValues(n: number, seed: number, nan: boolean): Float32Array {
  return Float32Array.from(seededValues(n, seed), (v, i) =>
    i % 11 === 0 ? -0 : nan && i % 29 === 0 ? Number.NaN : v,
  );
}

/** The plainest reading of the rule: per window and channel, dy + 0 at the argmax, else 0. */
function reference(
  x: Float32Array,
  dy: Float32Array,
  c: PoolCase,
  tie: MaxPoolTie,
): { dx: Float32Array; belowFltMin: boolean[] } {
  const attrs = { filterSize: c.filter, strides: c.stride, pad: c.pad };
  const g = poolWindows(c.shape, attrs);
  if (g == null) throw new Error("overlapping");
  const [N, H, W, C] = c.shape;
  const dx = new Float32Array(x.length);
  // Per dy element: whether its window's maximum is below FLT_MIN (or it has none).
  const belowFltMin: boolean[] = [];
  for (let b = 0; b < N; b++)
    for (let oy = 0; oy < g.outHeight; oy++)
      for (let ox = 0; ox < g.outWidth; ox++)
        for (let ch = 0; ch < C; ch++) {
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let r = oy * g.strideHeight - g.padTop, i = 0; i < g.filterHeight; i++, r++)
            for (let col = ox * g.strideWidth - g.padLeft, j = 0; j < g.filterWidth; j++, col++) {
              if (r < 0 || r >= H || col < 0 || col >= W) continue;
              const k = ((b * H + r) * W + col) * C + ch;
              const v = x[k] as number;
              if (tie === "first" ? v > best : v >= best) {
                best = v;
                at = k;
              }
            }
          const d = ((b * g.outHeight + oy) * g.outWidth + ox) * C + ch;
          belowFltMin[d] = !(best >= FLT_MIN);
          if (at >= 0) dx[at] = (dy[d] as number) + 0;
        }
  return { dx, belowFltMin };
}

const bits = (a: ArrayLike<number>) => Array.from(a, (v) => (Object.is(v, -0) ? "-0" : String(v)));

describe.each(["cpu", "wasm"] as const)("MaxPoolGrad on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { trainingKernels: false, onnxruntime: false });
    // On wasm the full windows run on the SIMD loop: make sure they do.
    if (backend === "wasm") expect(simdLoops(tf.backend())).not.toBeNull();
  });
  afterAll(() => unregisterTrainingKernels());

  const run = (
    kernel: tf.KernelFunc,
    x: Float32Array,
    dy: Float32Array,
    c: PoolCase,
  ): Float32Array =>
    tf.tidy(() => {
      const input = tf.tensor4d(x, c.shape);
      const output = tf.maxPool(input, c.filter, c.stride, c.pad);
      const dyT = tf.tensor(dy, output.shape);
      const attrs = { filterSize: c.filter, strides: c.stride, pad: c.pad };
      const info = kernel({ inputs: { dy: dyT, input, output }, attrs, backend: tf.backend() });
      const dx = tf.engine().makeTensorFromTensorInfo(info as tf.TensorInfo);
      expect(dx.shape).toEqual(c.shape);
      return dx.dataSync() as Float32Array;
    });
  const own = () => {
    const k = tf.getKernel("MaxPoolGrad", backend);
    if (k == null) throw new Error("no MaxPoolGrad");
    // Registered by us? Then the backend's own is the fallback inside; unregister first.
    return k.kernelFunc;
  };

  // A window wholly in the padding has no input to pass its dy to; wasm's own passes it to the
  // tensor's element 0 (the FLT_MIN defect again): that case is in the next test only.
  const exact = ODD.filter((c) => backend === "cpu" || !c.name.includes("in the padding"));
  it.each([...FAST_RESNET, ...exact].map((c) => [c.name, c] as const))(
    "%s: equals the backend's own bit for bit on tied data",
    (_name, c) => {
      unregisterTrainingKernels();
      const size = c.shape.reduce((a, b) => a * b, 1);
      const outSize = tf.tidy(
        () => tf.maxPool(tf.zeros(c.shape) as tf.Tensor4D, c.filter, c.stride, c.pad).size,
      );
      // wasm's own kernel is right only where a window's maximum is at least FLT_MIN, and spreads
      // a NaN dy over the window: on wasm the exact comparison takes data that avoids both.
      const x = tiedValues(size, 1, backend === "wasm");
      const dy = dyValues(outSize, 2, backend === "cpu");
      const ours = makeMaxPoolGrad(backend, own());
      const before = tf.memory().numTensors;
      const actual = run(ours, x, dy, c);
      expect(tf.memory().numTensors).toBe(before);
      const expected = run(own(), x, dy, c);
      expect(bits(actual)).toEqual(bits(expected));
      expect(bits(actual)).toEqual(bits(reference(x, dy, c, MAX_POOL_TIE[backend]).dx));
    },
  );

  it.each([...FAST_RESNET.slice(0, 4), ...ODD].map((c) => [c.name, c] as const))(
    "%s: negative, zero, NaN and infinite values: the plain rule; the backend's own differs only where it is wrong",
    (_name, c) => {
      unregisterTrainingKernels();
      const size = c.shape.reduce((a, b) => a * b, 1);
      const outSize = tf.tidy(
        () => tf.maxPool(tf.zeros(c.shape) as tf.Tensor4D, c.filter, c.stride, c.pad).size,
      );
      const x = tiedValues(size, 3, false);
      const dy = dyValues(outSize, 4, true);
      const tie = MAX_POOL_TIE[backend];
      const { dx: expected, belowFltMin } = reference(x, dy, c, tie);
      const actual = run(makeMaxPoolGrad(backend, own()), x, dy, c);
      expect(bits(actual)).toEqual(bits(expected));
      // The other tie rule too (on wasm: the SIMD loop's forward scan).
      const other = tie === "first" ? "last" : "first";
      expect(bits(run(makeMaxPoolGrad(backend, own(), other), x, dy, c))).toEqual(
        bits(reference(x, dy, c, other).dx),
      );
      const theirs = run(own(), x, dy, c);
      if (backend === "cpu") {
        expect(bits(theirs)).toEqual(bits(expected));
        return;
      }
      // wasm's own: equal wherever the window's maximum is at least FLT_MIN and its dy is not NaN
      // (which it spreads over the window).
      const g = poolWindows(c.shape, { filterSize: c.filter, strides: c.stride, pad: c.pad });
      if (g == null) throw new Error("overlapping");
      const mask = windowOf(c, g);
      let wrongWindows = 0;
      for (let i = 0; i < x.length; i++) {
        const d = mask[i] as number;
        if (d >= 0 && (belowFltMin[d] || Number.isNaN(dy[d]))) continue;
        if (!Object.is(theirs[i], expected[i])) {
          throw new Error(
            `wasm's own differs at ${i} (window ${d}): ${theirs[i]} vs ${expected[i]}`,
          );
        }
      }
      for (const below of belowFltMin) if (below) wrongWindows++;
      expect(wrongWindows).toBeGreaterThan(0); // the data does reach the case
    },
  );

  it("falls back to the backend's own kernel for overlapping windows", () => {
    unregisterTrainingKernels();
    const c: PoolCase = { name: "3×3/2", shape: [2, 9, 9, 4], filter: 3, stride: 2, pad: "same" };
    expect(poolWindows(c.shape, { filterSize: 3, strides: 2, pad: "same" })).toBeNull();
    const x = tiedValues(2 * 9 * 9 * 4, 5, true);
    const dy = dyValues(2 * 5 * 5 * 4, 6, false);
    expect(bits(run(makeMaxPoolGrad(backend, own()), x, dy, c))).toEqual(
      bits(run(own(), x, dy, c)),
    );
  });

  it("is what tf.grad of maxPool runs once registered: wasm gets all-negative windows right", () => {
    const x = tf.tensor4d([5, -1, 4, -2, 3, -3, 2, -4], [1, 2, 2, 2]);
    const grad = () =>
      Array.from(
        tf
          .grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, "valid")))(x)
          .dataSync(),
      );
    registerTrainingKernels();
    // Channel 1's maximum is -1, its first element (first and last maximum are the same here).
    expect(grad()).toEqual([1, 1, 0, 0, 0, 0, 0, 0]);
    unregisterTrainingKernels();
    const theirs = grad();
    if (backend === "wasm") expect(theirs).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    else expect(theirs).toEqual([1, 1, 0, 0, 0, 0, 0, 0]);
    x.dispose();
  });
});

/** Per element of x, the index of the dy element whose window holds it, or -1. */
function windowOf(c: PoolCase, g: NonNullable<ReturnType<typeof poolWindows>>): Int32Array {
  const [N, H, W, C] = c.shape;
  const out = new Int32Array(N * H * W * C).fill(-1);
  for (let b = 0; b < N; b++)
    for (let oy = 0; oy < g.outHeight; oy++)
      for (let ox = 0; ox < g.outWidth; ox++)
        for (let i = 0; i < g.filterHeight; i++)
          for (let j = 0; j < g.filterWidth; j++) {
            const r = oy * g.strideHeight - g.padTop + i;
            const col = ox * g.strideWidth - g.padLeft + j;
            if (r < 0 || r >= H || col < 0 || col >= W) continue;
            for (let ch = 0; ch < C; ch++)
              out[((b * H + r) * W + col) * C + ch] =
                ((b * g.outHeight + oy) * g.outWidth + ox) * C + ch;
          }
  return out;
}
