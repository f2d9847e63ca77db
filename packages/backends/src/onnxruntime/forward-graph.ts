// The forward convolution's graph, plain (conv2d.ts) or with a bias and ReLU (fused-conv2d.ts).
import { blockable, blockedConv } from "./blocked-conv.js";
import { type Geometry, HWIO_TO_OIHW, NCHW_TO_NHWC, NHWC_TO_NCHW } from "./geometry.js";
import type { OnnxAttribute, OnnxGraph, OnnxNode } from "./onnx-model.js";

export function forwardGraph(g: Geometry, bias: boolean, relu: boolean): OnnxGraph {
  const i = g.info;
  if (blockable(i.inChannels, i.outChannels)) {
    const constants: Record<string, number[]> = {};
    const attributes: Record<string, OnnxAttribute> = {
      pads: g.pads,
      strides: [i.strideHeight, i.strideWidth],
      dilations: [i.dilationHeight, i.dilationWidth],
    };
    if (relu) attributes.activation = "Relu";
    const filterShape = [i.filterHeight, i.filterWidth, i.inChannels, i.outChannels];
    const conv = blockedConv(
      "x",
      "w",
      filterShape,
      "y",
      attributes,
      constants,
      { inShape: i.inShape, outShape: i.outShape },
      bias ? "b" : undefined,
    );
    return {
      nodes: conv.nodes,
      inputs: [
        { name: "x", shape: conv.inDims },
        { name: "w", shape: filterShape },
        ...(bias ? [{ name: "b", shape: [i.outChannels] }] : []),
      ],
      outputs: [{ name: "y", shape: conv.outDims }],
      int64Constants: constants,
    };
  }
  const nodes: OnnxNode[] = [
    { op: "Transpose", inputs: ["x"], outputs: ["xc"], attributes: { perm: NHWC_TO_NCHW } },
    { op: "Transpose", inputs: ["w"], outputs: ["wc"], attributes: { perm: HWIO_TO_OIHW } },
    {
      op: "Conv",
      inputs: bias ? ["xc", "wc", "b"] : ["xc", "wc"],
      outputs: [relu ? "yc0" : "yc"],
      attributes: {
        pads: g.pads,
        strides: [i.strideHeight, i.strideWidth],
        dilations: [i.dilationHeight, i.dilationWidth],
      },
    },
  ];
  if (relu) nodes.push({ op: "Relu", inputs: ["yc0"], outputs: ["yc"] });
  nodes.push({
    op: "Transpose",
    inputs: ["yc"],
    outputs: ["y"],
    attributes: { perm: NCHW_TO_NHWC },
  });
  return {
    nodes,
    inputs: [
      { name: "x", shape: i.inShape },
      { name: "w", shape: [i.filterHeight, i.filterWidth, i.inChannels, i.outChannels] },
      ...(bias ? [{ name: "b", shape: [i.outChannels] }] : []),
    ],
    outputs: [{ name: "y", shape: i.outShape }],
  };
}
