// Conv2DBackpropFilter (the weight gradient of a convolution) for wasm, which has none, and cpu,
// whose reference kernel is a naive loop ~50x slower than its own forward convolution.
import type { KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { type ConvGeometry, type ConvGradAttrs, convGeometry } from "./conv-geometry.js";
import { BackendError } from "./errors.js";
import { type KernelBackendName, type KernelOps, kernelOps } from "./kernel-ops.js";

/**
 * x zero-padded, split into stride phases and laid out channel-major, xc[phase][c][n][r][q], with
 * at least offMax + 16 zero floats after the last row (the overrun of the last GEMM row, and
 * XNNPACK reading a few floats past its input).
 *
 * Stride 1 (one phase) runs as the backend's own PadV2 and Transpose: padding one extra channel of
 * zeros provides the slack as a zero row C. On wasm that is C++ instead of a JS loop whose writes
 * jump a whole row apart (about 2x faster on the narrow nets' 32x32 layers). Other strides, or
 * geometries where a pad would be negative (rows no output reads), copy in JS.
 */
function channelMajorPhases(
  ops: KernelOps,
  x: TensorInfo,
  g: ConvGeometry,
  Hq: number,
  Wq: number,
  phasesH: number,
  phasesW: number,
  offMax: number,
): TensorInfo {
  const { batch: N, inHeight: H, inWidth: W, inChannels: C } = g;
  const sh = g.strideHeight;
  const sw = g.strideWidth;
  const L = N * Hq * Wq;
  const bottom = Hq - H - g.padTop;
  const right = Wq - W - g.padLeft;
  if (
    sh === 1 &&
    sw === 1 &&
    bottom >= 0 &&
    right >= 0 &&
    g.padTop >= 0 &&
    g.padLeft >= 0 &&
    L > offMax + 16
  ) {
    const padded = ops.run(
      "PadV2",
      { x },
      {
        paddings: [
          [0, 0],
          [g.padTop, bottom],
          [g.padLeft, right],
          [0, 1],
        ],
        constantValue: 0,
      },
    );
    const xc = ops.run("Transpose", { x: padded }, { perm: [3, 0, 1, 2] });
    ops.dispose(padded);
    return xc;
  }
  const plane = Hq * Wq;
  const phaseSize = C * L;
  const xc = ops.alloc([phasesH * phasesW * phaseSize + offMax + 16]);
  const xv = ops.values(x);
  const cv = ops.values(xc);
  cv.fill(0);
  for (let a = 0; a < phasesH; a++) {
    for (let b = 0; b < phasesW; b++) {
      const base = (a * phasesW + b) * phaseSize;
      for (let n = 0; n < N; n++) {
        for (let r = 0; r < Hq; r++) {
          const row = r * sh + a - g.padTop;
          if (row < 0 || row >= H) continue;
          for (let q = 0; q < Wq; q++) {
            const col = q * sw + b - g.padLeft;
            if (col < 0 || col >= W) continue;
            const src = ((n * H + row) * W + col) * C;
            let dst = base + n * plane + r * Wq + q;
            for (let c = 0; c < C; c++) {
              cv[dst] = xv[src + c] as number;
              dst += L;
            }
          }
        }
      }
    }
  }
  return xc;
}

/**
 * dW[i,j,c,o] = sum over (n,y,x) of xPadded[n, y*sh+i, x*sw+j, c] * dy[n,y,x,o], computed without
 * im2col: one GEMM per filter tap (i,j), dW[i,j] [C, O] = X_ij^T [C, L] x dyP [L, O], where both
 * operands are plain views of two buffers built once per call.
 *
 * - Phases. Split the padded input by stride phase, P_ab[n,r,q] = xPadded[n, r*sh+a, q*sw+b]
 *   (one plane for stride 1). Tap (i,j) = (i'*sh+a, j'*sw+b) then reads P_ab[n, y+i', x+j']: a
 *   stride-1 shift of one plane. Each plane is [N, Hq, Wq] with Hq = Ho + (kh-1)/sh rounded down
 *   (same for Wq), stored channel-major: xc[phase][c][n*Hq*Wq + r*Wq + q], one row per channel.
 * - dyP is dy zero-padded to [N, Hq, Wq, O], flattened to [L, O] with L = N*Hq*Wq, so output
 *   (n,y,x) sits at row m = n*Hq*Wq + y*Wq + x, and tap (i,j) needs X_ij[m] = P_ab[m + i'*Wq + j'].
 *   So X_ij^T is the C rows of phase ab's block each shifted by off = i'*Wq + j': a view of xc at
 *   element offset phaseBase + off with shape [C, L] (row stride L, as a GEMM expects).
 * - Rows overrun into the next row's first `off` elements. Those meet dyP rows m >= L - off, which
 *   are all padding and so zero (the last real output row is exactly L - offMax - 1, given Hq and
 *   Wq); xc has `offMax` zeroed floats of slack after its last row for the final overrun.
 *
 * On wasm the GEMM is the backend's BatchMatMul, i.e. XNNPACK's fully-connected operator with dyP
 * as its weights: tfjs caches that operator per weights tensor, so dyP is packed once per call
 * and the nine taps of a 3x3 conv reuse it. Measured alternative (the previous version): im2col
 * in JS then one GEMM. It wrote kh*kw copies of x through JS loops and spent 3-8x the forward
 * conv's time on the narrow nets' convs; this spends about 2x (1.9-2.5x, `pnpm bench:kernels`).
 * Also measured and dropped: cutting L into blocks so each GEMM's operands stay in L2 (no gain
 * on the large layers, and the extra calls made the small ones slower).
 */
export function conv2DBackpropFilterByShiftedGemm(
  ops: KernelOps,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const { batch: N, inChannels: C, outHeight: Ho, outWidth: Wo, outChannels: O } = g;
  const kh = g.filterHeight;
  const kw = g.filterWidth;
  const sh = g.strideHeight;
  const sw = g.strideWidth;
  const Hq = Ho + Math.floor((kh - 1) / sh);
  const Wq = Wo + Math.floor((kw - 1) / sw);
  const plane = Hq * Wq;
  const L = N * plane;
  // Only the phases some tap reads (1x1 stride 2: just a = b = 0).
  const phasesH = Math.min(sh, kh);
  const phasesW = Math.min(sw, kw);
  const phaseSize = C * L;
  const offMax = Math.floor((kh - 1) / sh) * Wq + Math.floor((kw - 1) / sw);
  const xc = channelMajorPhases(ops, x, g, Hq, Wq, phasesH, phasesW, offMax);
  // Always a fresh tensor, also when no padding is needed: tfjs-wasm caches its XNNPACK operator
  // per weights tensor id, with the shape of the first call, so dy itself must not be the weights.
  const dyP = ops.alloc([1, L, O]);
  {
    const dv = ops.values(dy);
    const pv = ops.values(dyP);
    if (Hq === Ho && Wq === Wo) {
      pv.set(dv);
    } else {
      pv.fill(0);
      const rowLen = Wo * O;
      for (let n = 0; n < N; n++) {
        for (let y = 0; y < Ho; y++) {
          const src = (n * Ho + y) * rowLen;
          pv.set(dv.subarray(src, src + rowLen), (n * plane + y * Wq) * O);
        }
      }
    }
  }

  const dW = ops.alloc([kh, kw, C, O]);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const phase = (i % sh) * phasesW + (j % sw);
      const off = Math.floor(i / sh) * Wq + Math.floor(j / sw);
      const xT = ops.view(xc, phase * phaseSize + off, [1, C, L]);
      const part = ops.run(
        "BatchMatMul",
        { a: xT, b: dyP },
        { transposeA: false, transposeB: false },
      );
      ops.disposeView(xT);
      ops.values(dW).set(ops.values(part), (i * kw + j) * C * O);
      ops.dispose(part);
    }
  }
  ops.dispose(xc);
  ops.dispose(dyP);
  return dW;
}

export function conv2DBackpropFilterImpl(
  ops: KernelOps,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  return conv2DBackpropFilterByShiftedGemm(ops, x, dy, g);
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
