// `Conv2DBackpropInput` (dX) on ONNX Runtime: its graph and its kernel.
import type { KernelBackend, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { kernelOps } from "../kernel-ops.js";
import { blockable, blockedConv } from "./blocked-conv.js";
import { type Geometry, geometry, HWIO_TO_OIHW, NCHW_TO_NHWC, NHWC_TO_NCHW } from "./geometry.js";
import { allFloat, type KernelFactory, shapeKey, worthIt } from "./kernel-factory.js";
import type { OnnxGraph, OnnxNode, OnnxValue } from "./onnx-model.js";
import { runGraph } from "./run-graph.js";

/**
 * dX. Stride 1: the 'full' convolution of dy with the filter rotated 180° and its channels
 * swapped (one forward Conv, padding k-1-pad). Strides > 1: ConvTranspose with the forward
 * pads, and output_padding for rows the forward conv never reached. `null` when neither fits.
 */
export function inputGradGraph(g: Geometry): OnnxGraph | null {
  const i = g.info;
  const [kh, kw, sh, sw] = [i.filterHeight, i.filterWidth, i.strideHeight, i.strideWidth];
  const inputs = [
    { name: "dy", shape: i.outShape },
    { name: "w", shape: [kh, kw, i.inChannels, i.outChannels] },
  ];
  const outputs = [{ name: "dx", shape: i.inShape }];
  const head: OnnxNode = {
    op: "Transpose",
    inputs: ["dy"],
    outputs: ["dyc"],
    attributes: { perm: NHWC_TO_NCHW },
  };
  const tail: OnnxNode = {
    op: "Transpose",
    inputs: ["dxc"],
    outputs: ["dx"],
    attributes: { perm: NCHW_TO_NHWC },
  };
  if (sh === 1 && sw === 1) {
    const top = kh - 1 - i.padInfo.top;
    const left = kw - 1 - i.padInfo.left;
    const bottom = i.inHeight + kh - 1 - i.outHeight - top;
    const right = i.inWidth + kw - 1 - i.outWidth - left;
    if (Math.min(top, left, bottom, right) < 0) return null;
    const flip = {
      flipStart: [-1, -1],
      flipEnd: [-(kh + 1), -(kw + 1)],
      hw: [0, 1],
      back: [-1, -1],
    };
    if (blockable(i.outChannels, i.inChannels)) {
      // The rotated filter as HWIO of the flipped conv: in = the forward's out channels.
      const constants: Record<string, number[]> = { ...flip };
      const conv = blockedConv(
        "dy",
        "wt",
        [kh, kw, i.outChannels, i.inChannels],
        "dx",
        { pads: [top, left, bottom, right] },
        constants,
        { inShape: i.outShape, outShape: i.inShape },
      );
      return {
        nodes: [
          { op: "Slice", inputs: ["w", "flipStart", "flipEnd", "hw", "back"], outputs: ["wf"] },
          { op: "Transpose", inputs: ["wf"], outputs: ["wt"], attributes: { perm: [0, 1, 3, 2] } },
          ...conv.nodes,
        ],
        inputs: [{ name: "dy", shape: conv.inDims }, inputs[1] as OnnxValue],
        outputs: [{ name: "dx", shape: conv.outDims }],
        int64Constants: constants,
      };
    }
    return {
      nodes: [
        head,
        // Reverse both spatial axes of the HWIO filter, then HWIO -> (O=in channels, I=out channels).
        { op: "Slice", inputs: ["w", "flipStart", "flipEnd", "hw", "back"], outputs: ["wf"] },
        { op: "Transpose", inputs: ["wf"], outputs: ["wt"], attributes: { perm: [2, 3, 0, 1] } },
        {
          op: "Conv",
          inputs: ["dyc", "wt"],
          outputs: ["dxc"],
          attributes: { pads: [top, left, bottom, right] },
        },
        tail,
      ],
      inputs,
      outputs,
      int64Constants: flip,
    };
  }
  const { top, left, bottom, right } = i.padInfo;
  const outPadH = i.inHeight - (sh * (i.outHeight - 1) + kh - top - bottom);
  const outPadW = i.inWidth - (sw * (i.outWidth - 1) + kw - left - right);
  if (outPadH < 0 || outPadW < 0 || outPadH >= sh || outPadW >= sw) return null;
  return {
    nodes: [
      head,
      { op: "Transpose", inputs: ["w"], outputs: ["wc"], attributes: { perm: HWIO_TO_OIHW } },
      {
        op: "ConvTranspose",
        inputs: ["dyc", "wc"],
        outputs: ["dxc"],
        attributes: {
          pads: [top, left, bottom, right],
          strides: [sh, sw],
          output_padding: [outPadH, outPadW],
        },
      },
      tail,
    ],
    inputs,
    outputs,
  };
}

export const makeConv2DBackpropInput: KernelFactory = (backendName, fallback) => (args) => {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as NamedAttrMap;
  const inputShape = attrs.inputShape as number[];
  const g = allFloat(dy, filter) ? geometry(inputShape, filter.shape, attrs) : null;
  const graph = g && worthIt(backendName, g.info) ? inputGradGraph(g) : null;
  if (g == null || graph == null) return fallback(args);
  const ops = kernelOps(backendName, args.backend as KernelBackend);
  const key = `Conv2DBackpropInput ${inputShape.join("x")} ${shapeKey(filter)} ${g.pads} ${g.info.strideHeight},${g.info.strideWidth}`;
  return runGraph(ops, key, () => graph, { dy, w: filter }, "dx", inputShape, {
    inputs: ["dy"],
    build: (batch) => {
      const part = geometry([batch, ...inputShape.slice(1)], filter.shape, attrs);
      return part && inputGradGraph(part);
    },
  });
};
