// MaxPool's gradient for non-overlapping windows (filter ≤ stride, as fastResNet's 2×2/2 and 3×3/3
// pools): each dy goes to the argmax of its window, found in the same pass, every other dx is 0.
//
// Both backends' own kernels loop over dx and, for each element, over every window that could
// contain it, after a separate pass that finds each window's argmax; wasm's (C++) does so
// channel by channel, a stride of C floats between reads. On fastResNet's pools that was 21% of a
// training step (306 ms of 1,462 at widths 32,128,128, batch 256, wasm); this kernel reads x and
// dy once and writes dx once, in memory order.
//
// The argmax is the one each backend's own kernel picks, so the numbers do not change:
// - cpu: the first maximum in row-major window order (strictly greater than the best so far,
//   starting from -Infinity); NaN is never picked; a window of only NaN or -Infinity passes
//   nothing on.
// - wasm: the last maximum (greater than or equal). Its own kernel starts from FLT_MIN
//   (1.17549435e-38, the smallest normal float, where -FLT_MAX was meant), so in a window whose
//   values are all below that — all negative, or all zero, as after a ReLU — it routes dy
//   nowhere (to element 0 of the whole tensor, if that window holds it). That is a wrong
//   gradient; this kernel starts from -Infinity instead and routes dy to the last maximum there
//   too. (Also unlike it, a NaN in dy stays at the argmax: wasm's multiplies each dy by a 0/1
//   mask and spreads NaN over the window.)
// dx is dy + 0 at the argmax (a -0 becomes +0, as both backends' `0 + dy·1`), and +0 elsewhere,
// rows and columns that no window covers included. Overlapping windows, dtypes other than
// float32: the backend's own kernel.
import {
  backend_util,
  type KernelBackend,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type KernelBackendName, kernelOps } from "./kernel-ops.js";
import { type SimdLoops, simdMaxPoolGrad } from "./wasm-simd.js";

interface MaxPoolGradAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: "valid" | "same" | number | backend_util.ExplicitPadding;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

/** Which maximum of a window receives its dy when several are equal. */
export type MaxPoolTie = "first" | "last";

/** The geometry of a pooling whose windows do not overlap, as plain numbers. */
export interface PoolWindows {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/** The windows of a MaxPool over `xShape` (NHWC), or `null` where they overlap. */
export function poolWindows(
  xShape: readonly number[],
  attrs: MaxPoolGradAttrs,
): PoolWindows | null {
  if (xShape.length !== 4) return null;
  const info = backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  if (
    info.dilationHeight !== 1 ||
    info.dilationWidth !== 1 ||
    info.effectiveFilterHeight > info.strideHeight ||
    info.effectiveFilterWidth > info.strideWidth
  ) {
    return null;
  }
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    channels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    filterHeight: info.effectiveFilterHeight,
    filterWidth: info.effectiveFilterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** Calls `f(from, to)` for each run of indices in [0, n) that no window covers along one axis. */
function eachUncovered(
  n: number,
  windows: number,
  stride: number,
  filter: number,
  pad: number,
  f: (from: number, to: number) => void,
) {
  let next = 0; // the first index not yet known to be covered or reported
  for (let o = 0; o < windows && next < n; o++) {
    const s = Math.max(o * stride - pad, 0);
    const e = Math.min(o * stride - pad + filter, n);
    if (e <= s) continue;
    if (s > next) f(next, s);
    next = Math.max(next, e);
  }
  if (next < n) f(next, n);
}

/** The window range along one axis whose windows lie wholly inside the input: [first, end). */
function fullWindows(n: number, windows: number, stride: number, filter: number, pad: number) {
  const first = Math.min(Math.ceil(pad / stride), windows);
  let end = first;
  while (end < windows && end * stride - pad + filter <= n) end++;
  return [first, end] as const;
}

/**
 * Writes every element of dx from x and dy for non-overlapping windows `g`: per window and
 * channel, dy + 0 at the argmax (ties by `tie`; NaN never an argmax), 0 elsewhere. With `simd`,
 * `full` (the windows wholly inside the input, [oy0, oy1) × [ox0, ox1)) are left to it: it is
 * called with those ranges after the rest is written.
 */
export function maxPoolGradInto(
  dx: Float32Array,
  x: Float32Array,
  dy: Float32Array,
  g: PoolWindows,
  tie: MaxPoolTie,
  simd?: (oy0: number, oy1: number, ox0: number, ox1: number) => void,
): void {
  const { inHeight: H, inWidth: W, channels: C, outHeight: OH, outWidth: OW } = g;
  const rowFloats = W * C;
  const imageFloats = H * rowFloats;
  // Zeros where no window reaches (the last row and column of 31×31 under 2×2/2, gaps between
  // windows narrower than their stride, windows in the padding).
  const rowRuns: [number, number][] = [];
  const colRuns: [number, number][] = [];
  eachUncovered(H, OH, g.strideHeight, g.filterHeight, g.padTop, (a, b) => rowRuns.push([a, b]));
  eachUncovered(W, OW, g.strideWidth, g.filterWidth, g.padLeft, (a, b) => colRuns.push([a, b]));
  if (rowRuns.length > 0 || colRuns.length > 0) {
    for (let b = 0; b < g.batch; b++) {
      const image = b * imageFloats;
      for (const [r0, r1] of rowRuns) dx.fill(0, image + r0 * rowFloats, image + r1 * rowFloats);
      for (let r = 0; r < H; r++) {
        const row = image + r * rowFloats;
        for (const [c0, c1] of colRuns) dx.fill(0, row + c0 * C, row + c1 * C);
      }
    }
  }
  const [oy0, oy1] = simd ? fullWindows(H, OH, g.strideHeight, g.filterHeight, g.padTop) : [0, 0];
  const [ox0, ox1] = simd ? fullWindows(W, OW, g.strideWidth, g.filterWidth, g.padLeft) : [0, 0];
  const offsets = new Int32Array(g.filterHeight * g.filterWidth);
  for (let b = 0; b < g.batch; b++) {
    const image = b * imageFloats;
    for (let oy = 0; oy < OH; oy++) {
      const r0 = oy * g.strideHeight - g.padTop;
      const rs = Math.max(r0, 0);
      const re = Math.min(r0 + g.filterHeight, H);
      const simdRow = oy >= oy0 && oy < oy1;
      for (let ox = 0; ox < OW; ox++) {
        if (simdRow && ox >= ox0 && ox < ox1) continue;
        const c0 = ox * g.strideWidth - g.padLeft;
        const cs = Math.max(c0, 0);
        const ce = Math.min(c0 + g.filterWidth, W);
        // The window's elements of channel 0, in row-major order (the order of the tie rule).
        let k = 0;
        for (let r = rs; r < re; r++) {
          for (let c = cs; c < ce; c++) offsets[k++] = image + r * rowFloats + c * C;
        }
        if (k === 0) continue; // a window entirely in the padding
        const dyAt = ((b * OH + oy) * OW + ox) * C;
        if (tie === "first") firstMaxWindow(dx, x, dy, offsets, k, dyAt, C);
        else lastMaxWindow(dx, x, dy, offsets, k, dyAt, C);
      }
    }
  }
  if (simd && oy1 > oy0 && ox1 > ox0) simd(oy0, oy1, ox0, ox1);
}

// Two copies of the channel loop, so that the comparison is fixed in each. Each writes all of
// its window: 0, then dy at the argmax.
function firstMaxWindow(
  dx: Float32Array,
  x: Float32Array,
  dy: Float32Array,
  offsets: Int32Array,
  k: number,
  dyAt: number,
  C: number,
): void {
  for (let ch = 0; ch < C; ch++) {
    let best = Number.NEGATIVE_INFINITY;
    let at = -1;
    for (let j = 0; j < k; j++) {
      const i = (offsets[j] as number) + ch;
      const v = x[i] as number;
      dx[i] = 0;
      if (v > best) {
        best = v;
        at = i;
      }
    }
    if (at >= 0) dx[at] = (dy[dyAt + ch] as number) + 0;
  }
}

function lastMaxWindow(
  dx: Float32Array,
  x: Float32Array,
  dy: Float32Array,
  offsets: Int32Array,
  k: number,
  dyAt: number,
  C: number,
): void {
  for (let ch = 0; ch < C; ch++) {
    let best = Number.NEGATIVE_INFINITY;
    let at = -1;
    for (let j = 0; j < k; j++) {
      const i = (offsets[j] as number) + ch;
      const v = x[i] as number;
      dx[i] = 0;
      if (v >= best) {
        best = v;
        at = i;
      }
    }
    if (at >= 0) dx[at] = (dy[dyAt + ch] as number) + 0;
  }
}

/** The full windows [oy0, oy1) × [ox0, ox1) on the SIMD loops, a row of windows per call. */
function simdWindows(
  loops: SimdLoops,
  g: PoolWindows,
  tie: MaxPoolTie,
  dxAt: number,
  xAt: number,
  dyAt: number,
) {
  const pixelBytes = 4 * g.channels;
  const rowBytes = g.inWidth * pixelBytes;
  return (oy0: number, oy1: number, ox0: number, ox1: number) => {
    const windows = {
      filterHeight: g.filterHeight,
      filterWidth: g.filterWidth,
      rowBytes,
      pixelBytes,
      windowBytes: g.strideWidth * pixelBytes,
      tie,
    };
    simdMaxPoolGrad(loops, windows, (emit) => {
      for (let b = 0; b < g.batch; b++) {
        for (let oy = oy0; oy < oy1; oy++) {
          const at =
            (b * g.inHeight + oy * g.strideHeight - g.padTop) * rowBytes +
            (ox0 * g.strideWidth - g.padLeft) * pixelBytes;
          const dyPixel = ((b * g.outHeight + oy) * g.outWidth + ox0) * pixelBytes;
          emit(dxAt + at, xAt + at, dyAt + dyPixel, ox1 - ox0);
        }
      }
    });
  };
}

/** The tie rule of `backendName`'s own MaxPoolGrad. */
export const MAX_POOL_TIE: Readonly<Record<KernelBackendName, MaxPoolTie>> = {
  cpu: "first",
  wasm: "last",
};

/** `tie`: the backend's own rule; another only for tests. */
export function makeMaxPoolGrad(
  backendName: KernelBackendName,
  fallback: KernelFunc | undefined,
  tie: MaxPoolTie = MAX_POOL_TIE[backendName],
): KernelFunc {
  return (args) => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const g =
      dy.dtype === "float32" && input.dtype === "float32"
        ? poolWindows(input.shape, args.attrs as unknown as MaxPoolGradAttrs)
        : null;
    if (g == null) {
      if (fallback) return fallback(args);
      throw new BackendError(
        "missing_kernel",
        `MaxPoolGrad on '${backendName}': expected non-overlapping float32 windows or a kernel of the backend's own to fall back on, got neither`,
      );
    }
    const ops = kernelOps(backendName, args.backend as KernelBackend);
    const dx = ops.alloc(input.shape);
    if (!dx.shape.every((d) => d > 0)) return dx;
    const simd = g.channels % 4 === 0 ? (ops.simd?.() ?? null) : null;
    const onSimd =
      simd && ops.address
        ? simdWindows(simd, g, tie, ops.address(dx), ops.address(input), ops.address(dy))
        : undefined;
    maxPoolGradInto(ops.values(dx), ops.values(input), ops.values(dy), g, tie, onSimd);
    return dx;
  };
}
