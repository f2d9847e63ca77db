// Conv2DBackpropFilter (the weight gradient of a convolution) for wasm, which has none, and cpu,
// whose reference kernel is a naive loop ~50x slower than its own forward convolution.
import type { KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { type ConvGeometry, type ConvGradAttrs, convGeometry } from "./conv-geometry.js";
import { BackendError } from "./errors.js";
import { type KernelBackendName, type KernelOps, kernelOps } from "./kernel-ops.js";

/**
 * dW[i,j,c,o] = sum over (n,y,x) of xPadded[n, y*sh+i, x*sw+j, c] * dy[n,y,x,o].
 *
 * Read with the batch as channels, that sum is itself a forward convolution: input
 * xT[c, row, col, n] (channels as batch), filter dyT[y, x, n, o] (the output gradient as a
 * Ho x Wo kernel), dilated by the stride, 'valid', giving [c, kh, kw, o]. The backend's forward
 * convolution (XNNPACK on wasm) then does all the arithmetic; only two relayouts are done here.
 */
export function conv2DBackpropFilterImpl(
  ops: KernelOps,
  x: TensorInfo,
  dy: TensorInfo,
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
  // Only the rows/cols some output reads: trailing input rows a 'valid' strided conv skips are cut,
  // and the zero padding is written in, so the inner convolution is exactly 'valid'.
  const Hn = (Ho - 1) * g.strideHeight + kh;
  const Wn = (Wo - 1) * g.strideWidth + kw;

  const xT = ops.alloc([C, Hn, Wn, N]);
  const dyT = ops.alloc([Ho, Wo, N, O]);
  {
    const xv = ops.values(x);
    const xtv = ops.values(xT);
    // Written one padded row at a time: for each (row, col) an [N, C] block becomes [C, N].
    const planeT = Hn * Wn * N;
    for (let r = 0; r < Hn; r++) {
      const sr = r - g.padTop;
      const rowOk = sr >= 0 && sr < H;
      for (let q = 0; q < Wn; q++) {
        const sq = q - g.padLeft;
        const dst0 = (r * Wn + q) * N;
        if (!rowOk || sq < 0 || sq >= W) {
          for (let c = 0; c < C; c++) xtv.fill(0, c * planeT + dst0, c * planeT + dst0 + N);
          continue;
        }
        for (let n = 0; n < N; n++) {
          const src = ((n * H + sr) * W + sq) * C;
          let dst = dst0 + n;
          for (let c = 0; c < C; c++) {
            xtv[dst] = xv[src + c] as number;
            dst += planeT;
          }
        }
      }
    }
    const dyv = ops.values(dy);
    const dytv = ops.values(dyT);
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < Ho * Wo; p++) {
        const src = (n * Ho * Wo + p) * O;
        dytv.set(dyv.subarray(src, src + O), (p * N + n) * O);
      }
    }
  }

  const out = ops.run(
    "Conv2D",
    { x: xT, filter: dyT },
    {
      strides: [1, 1],
      pad: "valid",
      dataFormat: "NHWC",
      dilations: [g.strideHeight, g.strideWidth],
      dimRoundingMode: undefined,
    },
  );
  ops.dispose(xT);
  ops.dispose(dyT);

  // [c, i, j, o] -> [i, j, c, o]
  const dW = ops.alloc([kh, kw, C, O]);
  const ov = ops.values(out);
  const wv = ops.values(dW);
  for (let c = 0; c < C; c++) {
    for (let ij = 0; ij < kh * kw; ij++) {
      const src = (c * kh * kw + ij) * O;
      wv.set(ov.subarray(src, src + O), (ij * C + c) * O);
    }
  }
  ops.dispose(out);
  return dW;
}

interface BackpropFilterAttrs extends ConvGradAttrs {
  filterShape: [number, number, number, number];
}

/**
 * The kernel function for `backendName`. `fallback` (the backend's own kernel, if any) runs the
 * layouts the fast path does not cover (NCHW).
 */
export function makeConv2DBackpropFilter(
  backendName: KernelBackendName,
  fallback: KernelFunc | undefined,
): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as BackpropFilterAttrs;
    const g = convGeometry(x.shape, attrs.filterShape, attrs);
    if (g == null || x.dtype !== "float32" || dy.dtype !== "float32") {
      if (fallback) return fallback(args);
      throw new BackendError(
        "unsupported_conv",
        `Conv2DBackpropFilter on '${backendName}': expected NHWC float32 inputs, got dataFormat ${attrs.dataFormat}, x ${x.dtype}, dy ${dy.dtype}`,
      );
    }
    return conv2DBackpropFilterImpl(
      kernelOps(backendName, args.backend as KernelBackend),
      x,
      dy,
      g,
    );
  };
}
