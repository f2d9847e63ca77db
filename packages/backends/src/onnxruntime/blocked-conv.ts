// ONNX Runtime's blocked convolution (NCHWc), straight from and to tfjs's NHWC tensors.
import type { OnnxAttribute, OnnxNode } from "./onnx-model.js";
import { activeRuntime, type Runtime } from "./runtime.js";

export const NCHWC = "com.microsoft.nchwc";

/** Whether a convolution from `cin` to `cout` channels can run in the NCHWc layout. */
export function blockable(cin: number, cout: number): boolean {
  const b = activeRuntime()?.blockSize ?? 0;
  return b > 1 && cin % b === 0 && cout % b === 0;
}

/**
 * Nodes turning the HWIO filter `src` ([kh, kw, cin, cout]) into `dst` in MLAS's blocked
 * OIHWBiBo layout ([cout/B, cin/B, kh, kw, B(in), B(out)], shaped [cout, cin, kh, kw]), which
 * the NCHWc Conv reads: a reshape, a 6-D transpose and a reshape.
 */
function blockedFilter(
  src: string,
  dst: string,
  [kh, kw, cin, cout]: readonly number[],
  constants: Record<string, number[]>,
): OnnxNode[] {
  const b = (activeRuntime() as Runtime).blockSize;
  constants[`${dst}_6d`] = [
    kh as number,
    kw as number,
    (cin as number) / b,
    b,
    (cout as number) / b,
    b,
  ];
  constants[`${dst}_4d`] = [cout as number, cin as number, kh as number, kw as number];
  return [
    { op: "Reshape", inputs: [src, `${dst}_6d`], outputs: [`${dst}_r`] },
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
  nodes.push(...blockedFilter(filterHwio, `${filterHwio}_b`, filterShape, constants), {
    op: "Conv",
    domain: NCHWC,
    inputs: bias ? [xb, `${filterHwio}_b`, bias] : [xb, `${filterHwio}_b`],
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
