// ONNX Runtime's blocked convolution (NCHWc), straight from and to tfjs's NHWC tensors.
import type { OnnxAttribute, OnnxNode } from "./onnx-model.js";
import { activeRuntime, type Runtime } from "./runtime.js";

export const NCHWC = "com.microsoft.nchwc";

/** `channels` rounded up to whole blocks of `b`. */
export const whole = (channels: number, b: number) => Math.ceil(channels / b) * b;

/** The most arithmetic that padding the channels to whole blocks may add (see `blockable`). */
const MAX_PADDED_WORK = 1.8;

/**
 * Whether a convolution from `cin` to `cout` channels runs in the NCHWc layout: where both are
 * whole blocks, or where padding them to whole blocks (zero filters, whose outputs ReorderOutput
 * drops again) adds at most MAX_PADDED_WORK of arithmetic. With AVX-512's block of 16,
 * fastResNet's 24-channel convs pad to 32 (1.78x the work, 1.33x for 24->96) and still run 2-3x
 * faster than transposed to NCHW for ORT's plain Conv (`bench/ort-nodes.ts`, forward and input
 * gradient at batch 1,024); 8 channels padded to 16 (4x) measured even, so it stays unpadded.
 */
export function blockable(cin: number, cout: number): boolean {
  const b = activeRuntime()?.blockSize ?? 0;
  return b > 1 && (whole(cin, b) * whole(cout, b)) / (cin * cout) <= MAX_PADDED_WORK;
}

/**
 * Nodes turning the HWIO filter `src` ([kh, kw, cin, cout]) into `dst` in MLAS's blocked
 * OIHWBiBo layout ([cout/B, cin/B, kh, kw, B(in), B(out)], shaped [cout, cin, kh, kw]), which
 * the NCHWc Conv reads: a reshape, a 6-D transpose and a reshape.
 */
export function blockedFilter(
  src: string,
  dst: string,
  [kh, kw, cin, cout]: readonly number[],
  constants: Record<string, number[]>,
  b: number = (activeRuntime() as Runtime).blockSize,
): OnnxNode[] {
  const [ci, co] = [whole(cin as number, b), whole(cout as number, b)];
  constants[`${dst}_6d`] = [kh as number, kw as number, ci / b, b, co / b, b];
  constants[`${dst}_4d`] = [co, ci, kh as number, kw as number];
  const nodes: OnnxNode[] = [];
  let filter = src;
  if (ci !== cin || co !== cout) {
    // Zero filters for the padding channels: they read ReorderInput's zero channels, and their
    // outputs are dropped by ReorderOutput.
    constants[`${dst}_pads`] = [0, 0, 0, 0, 0, 0, ci - (cin as number), co - (cout as number)];
    nodes.push({ op: "Pad", inputs: [src, `${dst}_pads`], outputs: [`${dst}_p`] });
    filter = `${dst}_p`;
  }
  return [
    ...nodes,
    { op: "Reshape", inputs: [filter, `${dst}_6d`], outputs: [`${dst}_r`] },
    {
      op: "Transpose",
      inputs: [`${dst}_r`],
      outputs: [`${dst}_t`],
      attributes: { perm: [4, 2, 0, 1, 3, 5] },
    },
    { op: "Reshape", inputs: [`${dst}_t`, `${dst}_4d`], outputs: [dst] },
  ];
}

/**
 * A convolution in ONNX Runtime's internal blocked layout (NCHWc: channels in blocks of B, the
 * layout its fastest CPU convolutions use), straight from and to NHWC: its ReorderInput and
 * ReorderOutput read and write channels-last themselves, so no transposes. ORT would choose this
 * layout on its own only for constant filters; these filters change every step, so the graph
 * asks for it explicitly (1.3-2x faster than transpose + Conv; `bench:kernels`).
 *
 * With exactly one block of channels, NHWC and NCHWc are the same bytes ([N,H,W,B] and
 * [N,1,H,W,B]), so that side needs no reorder at all: the graph then declares the tensor in the
 * logical NCHW dims the blocked ops expect, and `runGraph` feeds the NHWC memory under those
 * dims (`io` says which dims to declare). On the tiny net's 8-channel layers the two reorders
 * were a third of the convolution's time.
 */
export function blockedConv(
  input: string,
  filterHwio: string,
  filterShape: readonly number[],
  output: string,
  convAttributes: Record<string, OnnxAttribute>,
  constants: Record<string, number[]>,
  io: { inShape: readonly number[]; outShape: readonly number[] },
  bias?: string,
): { nodes: OnnxNode[]; inDims: number[]; outDims: number[] } {
  const b = (activeRuntime() as Runtime).blockSize;
  const [cin, cout] = [filterShape[2] as number, filterShape[3] as number];
  const nchw = ([n, h, w, c]: readonly number[]) => [n, c, h, w] as number[];
  const rawIn = cin === b;
  const rawOut = cout === b;
  const xb = rawIn ? input : `${input}_b`;
  const yb = rawOut ? output : `${output}_b`;
  const nodes: OnnxNode[] = [];
  if (!rawIn) {
    nodes.push({
      op: "ReorderInput",
      domain: NCHWC,
      inputs: [input],
      outputs: [xb],
      attributes: { channels_last: 1 },
    });
  }
  let biasInput = bias;
  if (bias && whole(cout, b) !== cout) {
    constants[`${bias}_pads`] = [0, whole(cout, b) - cout];
    nodes.push({ op: "Pad", inputs: [bias, `${bias}_pads`], outputs: [`${bias}_p`] });
    biasInput = `${bias}_p`;
  }
  nodes.push(...blockedFilter(filterHwio, `${filterHwio}_b`, filterShape, constants), {
    op: "Conv",
    domain: NCHWC,
    inputs: biasInput ? [xb, `${filterHwio}_b`, biasInput] : [xb, `${filterHwio}_b`],
    outputs: [yb],
    attributes: {
      ...convAttributes,
      kernel_shape: [filterShape[0] as number, filterShape[1] as number],
    },
  });
  if (!rawOut) {
    nodes.push({
      op: "ReorderOutput",
      domain: NCHWC,
      inputs: [yb],
      outputs: [output],
      attributes: { channels: cout, channels_last: 1 },
    });
  }
  return {
    nodes,
    inDims: rawIn ? nchw(io.inShape) : [...io.inShape],
    outDims: rawOut ? nchw(io.outShape) : [...io.outShape],
  };
}

/**
 * How many input channels a blocked filter gradient (a convolution with the batch's images as
 * its input channels and the input's channels as its batch) lays side by side along the width:
 * the largest divisor of `ci` up to 32. Its output rows are then kw·G wide instead of kw (3), and
 * MLAS's kernel reuses each filter value (dy) across a whole row: 1.15-1.5x on the filter
 * gradients of fastResNet, SmallResNet and the narrow net (`bench:filter-grad`, 2026-12-07).
 */
export function filterGradInterleave(ci: number): number {
  for (let g = Math.min(32, ci); g > 1; g--) if (ci % g === 0) return g;
  return 1;
}
