// `Conv2DBackpropFilter` (dW) on ONNX Runtime: its graph and its kernel.
import type { KernelBackend, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { kernelOps } from "../kernel-ops.js";
import { type Geometry, geometry } from "./geometry.js";
import { allFloat, type KernelFactory, shapeKey } from "./kernel-factory.js";
import type { OnnxGraph, OnnxNode } from "./onnx-model.js";
import { runGraph } from "./run-graph.js";

/**
 * dW, one GEMM per filter tap: dW[a,b] (ci x co) = X_ab^T · dY, where X_ab (M x ci, M = batch
 * × output pixels) is the padded input sampled at tap (a,b) with the stride, and dY is M x co.
 * Concatenated over the taps in row-major (a,b) order that is the HWIO filter. Measured against
 * the alternative single Conv (batch and channels swapped, dilation = stride): 1.2-2.5x faster;
 * again in ORT's blocked layout on fastResNet's 96-channel shapes: 0.87-0.98x of the taps.
 *
 * Two ways to sample the taps, chosen by measurement (`bench:filter-grad`: plan against plan,
 * alternating in one process, on the ResNets' and fastResNet's shapes):
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
  | { readonly mode: "channel-major"; readonly groups: number };

/** Rows (batch × output pixels) from which channel-major sampling pays off (see above). */
const CHANNEL_MAJOR_ROWS = 32768;

/** The plan `filterGradGraph` uses by default for `g` (see above). */
export function filterGradPlan(g: Geometry): FilterGradPlan {
  const i = g.info;
  const rows = i.batchSize * i.outHeight * i.outWidth;
  const stride1 = i.strideHeight === 1 && i.strideWidth === 1 && i.filterHeight * i.filterWidth > 1;
  if (!stride1 || rows < CHANNEL_MAJOR_ROWS) return { mode: "pixel-major" };
  // 8 groups where the batch divides so (any batch of a multiple of 8), fewer otherwise.
  let groups = 8;
  while (i.batchSize % groups !== 0) groups /= 2;
  return { mode: "channel-major", groups };
}

export function filterGradGraph(g: Geometry, plan: FilterGradPlan = filterGradPlan(g)): OnnxGraph {
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
  return {
    nodes,
    inputs: [
      { name: "x", shape: i.inShape },
      { name: "dy", shape: i.outShape },
    ],
    outputs: [{ name: "dw", shape: [kh, kw, ci, co] }],
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
