// `FusedConv2D` on ONNX Runtime: a per-channel bias and ReLU run inside the convolution.
import type { KernelBackend, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { kernelOps } from "../kernel-ops.js";
import { forwardGraph } from "./forward-graph.js";
import { geometry } from "./geometry.js";
import { allFloat, type KernelFactory, shapeKey, worthIt } from "./kernel-factory.js";
import { runGraph } from "./run-graph.js";

export const makeFusedConv2D: KernelFactory = (backendName, fallback) => (args) => {
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<
    string,
    TensorInfo | undefined
  >;
  const attrs = args.attrs as NamedAttrMap;
  const activation = (attrs.activation as string | undefined) ?? "linear";
  if (
    x == null ||
    filter == null ||
    preluActivationWeights != null ||
    (activation !== "linear" && activation !== "relu") ||
    !allFloat(x, filter, bias)
  ) {
    return fallback(args);
  }
  const dilations = attrs.dilations as number | [number, number];
  const g = geometry(x.shape, filter.shape, attrs, dilations);
  const outChannels = filter.shape[3] as number;
  // A per-channel bias only (tfjs also allows scalars and other broadcasts: left to the fallback).
  if (
    g == null ||
    !worthIt(backendName, g.info) ||
    (bias != null && bias.shape.reduce((a, b) => a * b, 1) !== outChannels)
  ) {
    return fallback(args);
  }
  const ops = kernelOps(backendName, args.backend as KernelBackend);
  const key = `FusedConv2D ${shapeKey(x)} ${shapeKey(filter)} ${g.pads} ${g.info.strideHeight},${g.info.strideWidth} d${g.info.dilationHeight},${g.info.dilationWidth} ${bias ? "bias" : ""} ${activation}`;
  const inputs: Record<string, TensorInfo> = { x, w: filter };
  if (bias) inputs.b = { ...bias, shape: [outChannels] };
  return runGraph(
    ops,
    key,
    () => forwardGraph(g, bias != null, activation === "relu"),
    inputs,
    "y",
    g.info.outShape,
    {
      inputs: ["x"],
      build: (batch) => {
        const part = geometry([batch, ...x.shape.slice(1)], filter.shape, attrs, dilations);
        return part && forwardGraph(part, bias != null, activation === "relu");
      },
    },
  );
};
