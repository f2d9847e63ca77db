// Conv2DBackpropInput (the input gradient of a convolution) built on the backend's fast forward
// convolution and matmul; wasm's own kernel and cpu's are direct loops.
import type { KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { type ConvGeometry, type ConvGradAttrs, convGeometry } from "./conv-geometry.js";
import { BackendError } from "./errors.js";
import { type KernelBackendName, type KernelOps, kernelOps, reshaped } from "./kernel-ops.js";

/** Largest im2col block (floats) the strided path materialises at once: 16 MiB. */
const MAX_COLUMN_FLOATS = 4 * 1024 * 1024;

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
 * Any stride: columns = dy [M, O] x filter^T [O, kh*kw*C] (one matmul on the backend), then
 * scatter-add the columns back into the image (col2im). Done in batch blocks to bound memory.
 */
function byMatmulCol2im(
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
  const K = kh * kw * C;
  const filterT = ops.alloc([1, O, K]);
  {
    const fv = ops.values(filter);
    const tv = ops.values(filterT);
    for (let k = 0; k < K; k++) {
      for (let o = 0; o < O; o++) tv[o * K + k] = fv[k * O + o] as number;
    }
  }
  const dx = ops.alloc([N, H, W, C]);
  ops.values(dx).fill(0);
  const perImage = Ho * Wo;
  const block = Math.max(1, Math.min(N, Math.floor(MAX_COLUMN_FLOATS / (perImage * K))));
  for (let n0 = 0; n0 < N; n0 += block) {
    const nb = Math.min(block, N - n0);
    let dyBlock: TensorInfo;
    if (nb === N) {
      dyBlock = reshaped(dy, [1, N * perImage, O]);
    } else {
      dyBlock = ops.alloc([1, nb * perImage, O]);
      const src = ops.values(dy);
      ops.values(dyBlock).set(src.subarray(n0 * perImage * O, (n0 + nb) * perImage * O));
    }
    const cols = ops.run(
      "BatchMatMul",
      { a: dyBlock, b: filterT },
      { transposeA: false, transposeB: false },
    );
    if (nb !== N) ops.dispose(dyBlock);
    const cv = ops.values(cols);
    const xv = ops.values(dx);
    for (let n = 0; n < nb; n++) {
      const img = (n0 + n) * H;
      for (let y = 0; y < Ho; y++) {
        for (let x = 0; x < Wo; x++) {
          const m = (n * Ho + y) * Wo + x;
          for (let i = 0; i < kh; i++) {
            const r = y * g.strideHeight + i - g.padTop;
            if (r < 0 || r >= H) continue;
            for (let j = 0; j < kw; j++) {
              const q = x * g.strideWidth + j - g.padLeft;
              if (q < 0 || q >= W) continue;
              const dst = ((img + r) * W + q) * C;
              const src = m * K + (i * kw + j) * C;
              for (let c = 0; c < C; c++)
                xv[dst + c] = (xv[dst + c] as number) + (cv[src + c] as number);
            }
          }
        }
      }
    }
    ops.dispose(cols);
  }
  ops.dispose(filterT);
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
  return byMatmulCol2im(ops, dy, filter, g);
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
