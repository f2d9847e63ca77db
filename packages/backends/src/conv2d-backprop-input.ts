// Conv2DBackpropInput (the input gradient of a convolution) built on the backend's fast forward
// convolution and matmul; wasm's own kernel and cpu's are direct loops.
import type { KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { type ConvGeometry, type ConvGradAttrs, convGeometry } from "./conv-geometry.js";
import { BackendError } from "./errors.js";
import { type KernelBackendName, type KernelOps, kernelOps } from "./kernel-ops.js";

/**
 * Stride 1: dX is the 'full' convolution of dy with the filter rotated 180 degrees and its
 * in/out channels swapped, i.e. one forward convolution with padding (k-1-pad).
 */
function byFlippedConv(
  ops: KernelOps,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const { inChannels: C, outChannels: O, filterHeight: kh, filterWidth: kw } = g;
  const flipped = ops.alloc([kh, kw, O, C]);
  const fv = ops.values(filter);
  const rv = ops.values(flipped);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const src0 = ((kh - 1 - i) * kw + (kw - 1 - j)) * C * O;
      const dst0 = (i * kw + j) * O * C;
      for (let c = 0; c < C; c++) {
        for (let o = 0; o < O; o++) rv[dst0 + o * C + c] = fv[src0 + c * O + o] as number;
      }
    }
  }
  const top = kh - 1 - g.padTop;
  const left = kw - 1 - g.padLeft;
  const dx = ops.run(
    "Conv2D",
    { x: dy, filter: flipped },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [top, g.inHeight - g.outHeight + kh - 1 - top],
        [left, g.inWidth - g.outWidth + kw - 1 - left],
        [0, 0],
      ],
      dataFormat: "NHWC",
      dilations: [1, 1],
      dimRoundingMode: undefined,
    },
  );
  ops.dispose(flipped);
  return dx;
}

/**
 * Stride > 1, by stride phases. Input pixel row R (in padded coordinates) receives only from the
 * taps i with i = R mod sh: writing R = r'*sh + a, the taps are i = a + i'*sh and the rows
 * r' - i' of dy. So each phase (a, b) of dx is a *stride-1* 'full' convolution of dy with the
 * sub-filter w[a::sh, b::sw] rotated 180 degrees, channels swapped: at most sh*sw forward
 * convolutions (one for 1x1 stride 2) of about 1/(sh*sw) of the work each, then a copy that
 * interleaves the phases into dx. Measured alternative (the previous version): matmul + JS
 * col2im, 2-5x the forward conv on the ResNets' stride-2 convs.
 */
function byStridePhases(
  ops: KernelOps,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const {
    batch: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: Ho,
    outWidth: Wo,
    outChannels: O,
  } = g;
  const kh = g.filterHeight;
  const kw = g.filterWidth;
  const sh = g.strideHeight;
  const sw = g.strideWidth;
  const dx = ops.alloc([N, H, W, C]);
  ops.values(dx).fill(0);
  const simd = C % 4 === 0 ? (ops.simd?.() ?? null) : null;
  for (let a = 0; a < Math.min(sh, kh); a++) {
    for (let b = 0; b < Math.min(sw, kw); b++) {
      const ka = Math.ceil((kh - a) / sh);
      const kb = Math.ceil((kw - b) / sw);
      const sub = ops.alloc([ka, kb, O, C]);
      {
        const fv = ops.values(filter);
        const sv = ops.values(sub);
        for (let u = 0; u < ka; u++) {
          for (let v = 0; v < kb; v++) {
            const src0 = ((a + sh * (ka - 1 - u)) * kw + (b + sw * (kb - 1 - v))) * C * O;
            const dst0 = (u * kb + v) * O * C;
            for (let c = 0; c < C; c++) {
              for (let o = 0; o < O; o++) sv[dst0 + o * C + c] = fv[src0 + c * O + o] as number;
            }
          }
        }
      }
      const phase = ops.run(
        "Conv2D",
        { x: dy, filter: sub },
        {
          strides: [1, 1],
          pad: [
            [0, 0],
            [ka - 1, ka - 1],
            [kb - 1, kb - 1],
            [0, 0],
          ],
          dataFormat: "NHWC",
          dilations: [1, 1],
          dimRoundingMode: undefined,
        },
      );
      ops.dispose(sub);
      const Hp = Ho + ka - 1;
      const Wp = Wo + kb - 1;
      // Phase column q lands on dx column q·sw + b - padLeft: the ones inside dx, [q0, q1).
      const q0 = Math.max(0, Math.ceil((g.padLeft - b) / sw));
      const q1 = Math.min(Wp, Math.ceil((W + g.padLeft - b) / sw));
      if (simd && ops.address && q1 > q0) {
        // Each phase row's pixels are one SIMD block copy each, sw pixels apart in dx.
        const [src0, dst0] = [ops.address(phase), ops.address(dx)];
        for (let n = 0; n < N; n++) {
          for (let r = 0; r < Hp; r++) {
            const row = r * sh + a - g.padTop;
            if (row < 0 || row >= H) continue;
            const src = src0 + 4 * ((n * Hp + r) * Wp + q0) * C;
            const dst = dst0 + 4 * ((n * H + row) * W + q0 * sw + b - g.padLeft) * C;
            simd.scatter(dst, src, q1 - q0, 4 * C, 4 * sw * C);
          }
        }
        ops.dispose(phase);
        continue;
      }
      const pv = ops.values(phase);
      const xv = ops.values(dx);
      for (let n = 0; n < N; n++) {
        for (let r = 0; r < Hp; r++) {
          const row = r * sh + a - g.padTop;
          if (row < 0 || row >= H) continue;
          for (let q = 0; q < Wp; q++) {
            const col = q * sw + b - g.padLeft;
            if (col < 0 || col >= W) continue;
            const src = ((n * Hp + r) * Wp + q) * C;
            const dst = ((n * H + row) * W + col) * C;
            for (let c = 0; c < C; c++) xv[dst + c] = pv[src + c] as number;
          }
        }
      }
      ops.dispose(phase);
    }
  }
  return dx;
}

export function conv2DBackpropInputImpl(
  ops: KernelOps,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const padsFitFlip =
    g.padTop <= g.filterHeight - 1 &&
    g.padLeft <= g.filterWidth - 1 &&
    g.inHeight - g.outHeight + g.padTop >= 0 &&
    g.inWidth - g.outWidth + g.padLeft >= 0;
  if (g.strideHeight === 1 && g.strideWidth === 1 && padsFitFlip)
    return byFlippedConv(ops, dy, filter, g);
  return byStridePhases(ops, dy, filter, g);
}

interface BackpropInputAttrs extends ConvGradAttrs {
  inputShape: [number, number, number, number];
}

/** The kernel function for `backendName`; `fallback` runs what the fast paths do not cover (NCHW). */
export function makeConv2DBackpropInput(
  backendName: KernelBackendName,
  fallback: KernelFunc | undefined,
): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as BackpropInputAttrs;
    const g = convGeometry(attrs.inputShape, filter.shape, attrs);
    if (g == null || dy.dtype !== "float32" || filter.dtype !== "float32") {
      if (fallback) return fallback(args);
      throw new BackendError(
        "unsupported_conv",
        `Conv2DBackpropInput on '${backendName}': expected NHWC float32 inputs, got dataFormat ${attrs.dataFormat}, dy ${dy.dtype}, filter ${filter.dtype}`,
      );
    }
    return conv2DBackpropInputImpl(
      kernelOps(backendName, args.backend as KernelBackend),
      dy,
      filter,
      g,
    );
  };
}
