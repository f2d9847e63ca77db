// `Conv2DBackpropFilter` (dW) on ONNX Runtime: its graph and its kernel.
import type { KernelBackend, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { kernelOps } from "../kernel-ops.js";
import { filterGradInterleave, NCHWC } from "./blocked-conv.js";
import { type Geometry, geometry } from "./geometry.js";
import { allFloat, type KernelFactory, shapeKey } from "./kernel-factory.js";
import type { OnnxGraph, OnnxNode } from "./onnx-model.js";
import { runGraph } from "./run-graph.js";
import { activeRuntime } from "./runtime.js";

/**
 * dW, where the batch fills whole NCHWc blocks (the "blocked" plan): one blocked convolution with
 * the batch's images as its input channels — the input laid out [ci, N, h, w] (ci as the batch)
 * convolved with dY laid out [co, N, oh, ow] as its filter (kernel oh x ow, dilated by the
 * stride) is [ci, co, kh, kw]: every tap from one MLAS kernel summing in registers, no copy of
 * the input per tap. `bench:filter-grad` (plan against plan, alternating in one process,
 * 2026-12-06, AVX-512): against the tap plans below 1.11x (fastResNet's 24->24 at 31x31, batch
 * 1,024), 1.32-2.39x on its other shapes (the 96-channel 7x7 at ~170 GFLOP/s), 1.18-2.61x on
 * SmallResNet's and the narrow net's at batch 64 (strides 1 and 2), even on 3-channel inputs.
 * The input is padded by a Pad node first: the same convolution with `pads` runs 2x slower in
 * MLAS's border loops (an earlier try of this plan, 2026-12-05, measured 0.87-0.98x of the taps
 * on fastResNet's 96-channel shapes). Its output rows are only kw (3) wide, and MLAS's kernel
 * loads each filter value (dY) once per output row, from L3 on these sizes: `interleave` lays G
 * of the input's channels side by side along the width ([ci/G, N, h, w·G], dilated by G), and a
 * row is kw·G wide — 1.15-1.5x more on the same shapes (G = the largest divisor of ci up to 32,
 * `filterGradInterleave`; 2026-12-07, the same bits). Measured and not taken there: the taps as
 * more output channels (dY shifted into a wider filter, 0.2-0.8x).
 *
 * Otherwise one GEMM per filter tap: dW[a,b] (ci x co) = X_ab^T · dY, where X_ab (M x ci, M =
 * batch × output pixels) is the padded input sampled at tap (a,b) with the stride, and dY is
 * M x co. Concatenated over the taps in row-major (a,b) order that is the HWIO filter. Against a
 * single plain NCHW Conv (batch and channels swapped, dilation = stride): 1.2-2.5x faster.
 *
 * Two ways to sample the taps, chosen by measurement (`bench:filter-grad`, as above):
 * - channel-major, in G groups of images: transpose the padded input once to [G, ci, N/G, H, W];
 *   each tap is then a slice that reshapes to [G, ci, (N/G)·HW], one batched MatMul with dY as
 *   [G, (N/G)·HW, co] gives [G, ci, co], summed over G once for all taps. MLAS splits a plain
 *   GEMM between threads only along its ci x co output (24x24 on fastResNet's first group: one
 *   thread's work), a batched one also across the groups; G = 8 keeps both threads busy while
 *   the G·ci·co partial sums stay negligible (G = N, one group per image, was the old choice
 *   for 32x32 outputs: as fast there, 0.15-0.45x on 8x8 to 16x16). Against pixel-major, with
 *   stride 1 and M ≥ 32,768: 1.5-1.9x on fastResNet's 24->24 convs at batch 1,024, 1.25x on 24->96,
 *   1.15x on 96->96 at 7x7, 1.05-1.5x on SmallResNet's 32x32 outputs at batch 64;
 * - pixel-major: slice the NHWC input (with the stride) to X_ab (M x ci) and let Gemm transpose
 *   it (transA). Faster for strides > 1 (the strided slice of the channel-major copy gathers
 *   single floats) and for fewer rows (8x8 and 16x16 outputs at batch 64, 3x3 at batch 1,024:
 *   1.1-1.75x), where the transpose does not pay off.
 */
export type FilterGradPlan =
  | { readonly mode: "pixel-major" }
  | { readonly mode: "channel-major"; readonly groups: number }
  | {
      readonly mode: "blocked";
      readonly block: number;
      /** Input channels side by side along the width (a divisor of ci; default 1). */
      readonly interleave?: number;
    };

/** Rows (batch × output pixels) from which channel-major sampling pays off (see above). */
const CHANNEL_MAJOR_ROWS = 32768;

/**
 * The plan `filterGradGraph` uses by default for `g` (see above), with MLAS's NCHWc block `block`
 * (the active runtime's; 0 where the blocked kernels are missing).
 */
export function filterGradPlan(
  g: Geometry,
  block: number = activeRuntime()?.blockSize ?? 0,
): FilterGradPlan {
  const i = g.info;
  if (block > 1 && i.batchSize % block === 0) {
    return { mode: "blocked", block, interleave: filterGradInterleave(i.inChannels) };
  }
  const rows = i.batchSize * i.outHeight * i.outWidth;
  const stride1 = i.strideHeight === 1 && i.strideWidth === 1 && i.filterHeight * i.filterWidth > 1;
  if (!stride1 || rows < CHANNEL_MAJOR_ROWS) return { mode: "pixel-major" };
  // 8 groups where the batch divides so (any batch of a multiple of 8), fewer otherwise.
  let groups = 8;
  while (i.batchSize % groups !== 0) groups /= 2;
  return { mode: "channel-major", groups };
}

export function filterGradGraph(g: Geometry, plan: FilterGradPlan = filterGradPlan(g)): OnnxGraph {
  if (plan.mode === "blocked") return blockedFilterGradGraph(g, plan.block, plan.interleave ?? 1);
  const i = g.info;
  const [kh, kw, sh, sw] = [i.filterHeight, i.filterWidth, i.strideHeight, i.strideWidth];
  const { top, left, bottom, right } = i.padInfo;
  const [n, hw, ci, co] = [i.batchSize, i.outHeight * i.outWidth, i.inChannels, i.outChannels];
  const padded = top + left + bottom + right > 0;
  // G groups of images: [G, ci, (N/G)·HW] x [G, (N/G)·HW, co] per tap.
  const groups = plan.mode === "channel-major" ? plan.groups : 0;
  const grouped = groups > 1;
  const k = groups > 0 ? (n / groups) * hw : 0;
  const dy = grouped ? [groups, k, co] : [n * hw, co];
  const nodes: OnnxNode[] = [{ op: "Reshape", inputs: ["dy", "dyShape"], outputs: ["dy2"] }];
  const constants: Record<string, number[]> = {
    dyShape: dy,
    tapShape: grouped ? [groups, ci, k] : groups === 1 ? [ci, n * hw] : [n * hw, ci],
    hw: groups === 0 ? [1, 2] : grouped ? [3, 4] : [2, 3],
    strides: [sh, sw],
    filterShape: [kh, kw, ci, co],
  };
  let source = "x";
  if (padded) {
    nodes.push({ op: "Pad", inputs: ["x", "pads"], outputs: ["xp"] });
    constants.pads = [0, top, left, 0, 0, bottom, right, 0];
    source = "xp";
  }
  if (grouped) {
    // [G, N/G, H, W, ci] -> [G, ci, N/G, H, W]: each tap slices the last two axes.
    const [h, w] = [i.inHeight + top + bottom, i.inWidth + left + right];
    constants.groupShape = [groups, n / groups, h, w, ci];
    constants.tapOut = [1, groups, ci, co];
    nodes.push(
      { op: "Reshape", inputs: [source, "groupShape"], outputs: ["xg"] },
      { op: "Transpose", inputs: ["xg"], outputs: ["xt"], attributes: { perm: [0, 4, 1, 2, 3] } },
    );
    source = "xt";
  } else if (groups === 1) {
    nodes.push({
      op: "Transpose",
      inputs: [source],
      outputs: ["xt"],
      attributes: { perm: [3, 0, 1, 2] },
    });
    source = "xt";
  }
  const taps: string[] = [];
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const t = `t${a}_${b}`;
      constants[`${t}_start`] = [a, b];
      constants[`${t}_end`] = [a + (i.outHeight - 1) * sh + 1, b + (i.outWidth - 1) * sw + 1];
      nodes.push(
        {
          op: "Slice",
          inputs: [source, `${t}_start`, `${t}_end`, "hw", "strides"],
          outputs: [`${t}_x`],
        },
        { op: "Reshape", inputs: [`${t}_x`, "tapShape"], outputs: [`${t}_m`] },
      );
      if (groups === 0) {
        nodes.push({
          op: "Gemm",
          inputs: [`${t}_m`, "dy2"],
          outputs: [t],
          attributes: { transA: 1 },
        });
      } else if (!grouped) {
        nodes.push({ op: "MatMul", inputs: [`${t}_m`, "dy2"], outputs: [t] });
      } else {
        // [G, ci, co] per tap, as [1, G, ci, co] so that the taps stack on axis 0.
        nodes.push(
          { op: "MatMul", inputs: [`${t}_m`, "dy2"], outputs: [`${t}_p`] },
          { op: "Reshape", inputs: [`${t}_p`, "tapOut"], outputs: [t] },
        );
      }
      taps.push(t);
    }
  }
  let last = taps[0] as string;
  if (taps.length > 1) {
    nodes.push({ op: "Concat", inputs: taps, outputs: ["dw2"], attributes: { axis: 0 } });
    last = "dw2";
  }
  if (grouped) {
    constants.groupAxis = [1];
    nodes.push({
      op: "ReduceSum",
      inputs: [last, "groupAxis"],
      outputs: ["dw3"],
      attributes: { keepdims: 0 },
    });
    last = "dw3";
  }
  nodes.push({ op: "Reshape", inputs: [last, "filterShape"], outputs: ["dw"] });
  return dwGraph(g, nodes, constants);
}

/**
 * dW as one blocked convolution, the batch's images as its input channels (needs a batch of whole
 * blocks): the input laid out [ci, N, h, w] (ci as the batch) convolved with dY laid out
 * [co, N, oh, ow] as its filter (kernel oh x ow, dilated by the stride) is [ci, co, kh, kw].
 */
function blockedFilterGradGraph(g: Geometry, B: number, G: number): OnnxGraph {
  const i = g.info;
  const [kh, kw, sh, sw] = [i.filterHeight, i.filterWidth, i.strideHeight, i.strideWidth];
  const { top, left } = i.padInfo;
  const [n, h, w, ci, co] = [i.batchSize, i.inHeight, i.inWidth, i.inChannels, i.outChannels];
  const [oh, ow] = [i.outHeight, i.outWidth];
  const cop = Math.ceil(co / B) * B;
  if (!Number.isInteger(G) || G < 1 || ci % G !== 0) {
    throw new Error(`interleave: expected a divisor of the ${ci} input channels, got ${G}`);
  }
  // The rows and columns the taps read, from the top-left padding on (ONNX's Pad crops where
  // the bottom or right pad is negative).
  const [eh, ew] = [(oh - 1) * sh + kh, (ow - 1) * sw + kw];
  const [bottom, right] = [eh - h - top, ew - w - left];
  const constants: Record<string, number[]> = {
    xg: [n, h, w, ci / G, G],
    xgt: [ci / G, n, h, w * G],
    x5: [ci / G, n / B, h, w * G, B],
    xPads: [0, 0, top, left * G, 0, 0, 0, bottom, right * G, 0],
    xShape: [ci / G, n, eh, ew * G],
    dyPads: [0, 0, 0, 0, 0, 0, 0, cop - co],
    dy6: [n / B, B, oh, ow, cop / B, B],
    fShape: [cop, n, oh, ow],
    dw5: [ci / G, cop / B, kh, kw, G, B],
    hwio: [kh, kw, ci, cop],
    start: [0],
    end: [co],
    axis: [3],
  };
  const nodes: OnnxNode[] = [
    // x: NHWC -> [ci/G, N, h, w·G] (G channels interleaved along the width) -> blocked over the images.
    { op: "Reshape", inputs: ["x", "xg"], outputs: ["xg5"] },
    { op: "Transpose", inputs: ["xg5"], outputs: ["xt5"], attributes: { perm: [3, 0, 1, 2, 4] } },
    { op: "Reshape", inputs: ["xt5", "xgt"], outputs: ["xt"] },
    {
      op: "ReorderInput",
      domain: NCHWC,
      inputs: ["xt"],
      outputs: ["xb"],
      attributes: { channels_last: 0 },
    },
  ];
  let xIn = "xb";
  if (top !== 0 || left !== 0 || bottom !== 0 || right !== 0) {
    nodes.push(
      { op: "Reshape", inputs: ["xb", "x5"], outputs: ["xb5"] },
      { op: "Pad", inputs: ["xb5", "xPads"], outputs: ["xp5"] },
      { op: "Reshape", inputs: ["xp5", "xShape"], outputs: ["xp"] },
    );
    xIn = "xp";
  }
  // dy: NHWC, its channels padded to whole blocks -> MLAS's filter layout
  // [co/B, N/B, oh, ow, B(N), B(co)].
  let dy = "dy";
  if (cop !== co) {
    nodes.push({ op: "Pad", inputs: ["dy", "dyPads"], outputs: ["dyp"] });
    dy = "dyp";
  }
  nodes.push(
    { op: "Reshape", inputs: [dy, "dy6"], outputs: ["dy6v"] },
    {
      op: "Transpose",
      inputs: ["dy6v"],
      outputs: ["ft"],
      attributes: { perm: [4, 0, 2, 3, 1, 5] },
    },
    { op: "Reshape", inputs: ["ft", "fShape"], outputs: ["f"] },
    {
      op: "Conv",
      domain: NCHWC,
      inputs: [xIn, "f"],
      outputs: ["dwb"],
      attributes: { kernel_shape: [oh, ow], dilations: [sh, sw * G] },
    },
    // [ci/G, co/B, kh, kw, G, B] -> HWIO.
    { op: "Reshape", inputs: ["dwb", "dw5"], outputs: ["dw5v"] },
    {
      op: "Transpose",
      inputs: ["dw5v"],
      outputs: ["dwt"],
      attributes: { perm: [2, 3, 0, 4, 1, 5] },
    },
    {
      op: "Reshape",
      inputs: ["dwt", "hwio"],
      outputs: [cop === co ? "dw" : "dwp"],
    },
  );
  if (cop !== co) {
    nodes.push({ op: "Slice", inputs: ["dwp", "start", "end", "axis"], outputs: ["dw"] });
  }
  return dwGraph(g, nodes, constants);
}

/** The graph of `nodes` from inputs x and dy (as tfjs passes them) to the HWIO filter dw. */
function dwGraph(g: Geometry, nodes: OnnxNode[], constants: Record<string, number[]>): OnnxGraph {
  const i = g.info;
  return {
    nodes,
    inputs: [
      { name: "x", shape: i.inShape },
      { name: "dy", shape: i.outShape },
    ],
    outputs: [{ name: "dw", shape: [i.filterHeight, i.filterWidth, i.inChannels, i.outChannels] }],
    int64Constants: constants,
  };
}

export const makeConv2DBackpropFilter: KernelFactory = (backendName, fallback) => (args) => {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as NamedAttrMap;
  const filterShape = attrs.filterShape as number[];
  const g = allFloat(x, dy) ? geometry(x.shape, filterShape, attrs) : null;
  if (g == null) return fallback(args);
  const ops = kernelOps(backendName, args.backend as KernelBackend);
  const key = `Conv2DBackpropFilter ${shapeKey(x)} ${filterShape.join("x")} ${g.pads} ${g.info.strideHeight},${g.info.strideWidth}`;
  return runGraph(ops, key, () => filterGradGraph(g), { x, dy }, "dw", filterShape);
};
