// Conv2DBackpropFilter (the weight gradient of a convolution) for wasm, which has none, and cpu,
// whose reference kernel is a naive loop ~50x slower than its own forward convolution.
import type { KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { type ConvGeometry, type ConvGradAttrs, convGeometry } from "./conv-geometry.js";
import { BackendError } from "./errors.js";
import { type KernelBackendName, type KernelOps, kernelOps, reshaped } from "./kernel-ops.js";

/** Largest im2col block (floats) materialised at once: 16 MiB. */
const MAX_COLUMN_FLOATS = 4 * 1024 * 1024;

/**
 * dW[i,j,c,o] = sum over (n,y,x) of xPadded[n, y*sh+i, x*sw+j, c] * dy[n,y,x,o], i.e.
 * dW [kh*kw*C, O] = cols^T [kh*kw*C, M] x dy [M, O], M = N*Ho*Wo, in batch blocks. cols^T rows are
 * built from a channel-major padded copy of x, so every row is written as contiguous runs; the
 * matmul is the backend's BatchMatMul (XNNPACK's GEMM on wasm, which packs only the small dy block).
 */
export function conv2DBackpropFilterByGemm(
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
  const sh = g.strideHeight;
  const sw = g.strideWidth;
  const Hn = (Ho - 1) * sh + kh;
  const Wn = (Wo - 1) * sw + kw;
  const K = kh * kw * C;
  const perImage = Ho * Wo;
  const block = Math.max(1, Math.min(N, Math.floor(MAX_COLUMN_FLOATS / (perImage * K))));

  // xc[c][n][r][q]: x zero-padded (and cut to the rows/cols some output reads), channels outermost.
  const plane = Hn * Wn;
  const xc = new Float32Array(C * N * plane);
  {
    const xv = ops.values(x);
    const cStride = N * plane;
    for (let n = 0; n < N; n++) {
      for (let r = Math.max(0, g.padTop); r < Math.min(Hn, H + g.padTop); r++) {
        for (let q = Math.max(0, g.padLeft); q < Math.min(Wn, W + g.padLeft); q++) {
          const src = ((n * H + r - g.padTop) * W + q - g.padLeft) * C;
          let dst = n * plane + r * Wn + q;
          for (let c = 0; c < C; c++) {
            xc[dst] = xv[src + c] as number;
            dst += cStride;
          }
        }
      }
    }
  }

  const acc = new Float32Array(K * O);
  for (let n0 = 0; n0 < N; n0 += block) {
    const nb = Math.min(block, N - n0);
    const Mb = nb * perImage;
    const colsT = ops.alloc([1, K, Mb]);
    let dyBlock: TensorInfo;
    if (nb === N) {
      dyBlock = reshaped(dy, [1, Mb, O]);
    } else {
      dyBlock = ops.alloc([1, Mb, O]);
      ops.values(dyBlock).set(ops.values(dy).subarray(n0 * perImage * O, (n0 + nb) * perImage * O));
    }
    const cv = ops.values(colsT);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        for (let c = 0; c < C; c++) {
          let dst = ((i * kw + j) * C + c) * Mb;
          for (let n = n0; n < n0 + nb; n++) {
            const img = (c * N + n) * plane;
            for (let y = 0; y < Ho; y++) {
              let src = img + (y * sh + i) * Wn + j;
              for (let xo = 0; xo < Wo; xo++) {
                cv[dst++] = xc[src] as number;
                src += sw;
              }
            }
          }
        }
      }
    }
    const part = ops.run(
      "BatchMatMul",
      { a: colsT, b: dyBlock },
      { transposeA: false, transposeB: false },
    );
    ops.dispose(colsT);
    if (nb !== N) ops.dispose(dyBlock);
    const pv = ops.values(part);
    for (let k = 0; k < K * O; k++) acc[k] = (acc[k] as number) + (pv[k] as number);
    ops.dispose(part);
  }
  const dW = ops.alloc([kh, kw, C, O]);
  ops.values(dW).set(acc);
  return dW;
}

export function conv2DBackpropFilterImpl(
  ops: KernelOps,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  return conv2DBackpropFilterByGemm(ops, x, dy, g);
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
