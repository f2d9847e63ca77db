// `Conv2D` on ONNX Runtime.
import type { KernelBackend, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { kernelOps } from "../kernel-ops.js";
import { forwardGraph } from "./forward-graph.js";
import { geometry } from "./geometry.js";
import { allFloat, type KernelFactory, shapeKey, worthIt } from "./kernel-factory.js";
import { runGraph } from "./run-graph.js";

export const makeConv2D: KernelFactory = (backendName, fallback) => (args) => {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as NamedAttrMap;
  const dilations = attrs.dilations as number | [number, number];
  const g = allFloat(x, filter) ? geometry(x.shape, filter.shape, attrs, dilations) : null;
  if (g == null || !worthIt(backendName, g.info)) return fallback(args);
  const ops = kernelOps(backendName, args.backend as KernelBackend);
  const key = `Conv2D ${shapeKey(x)} ${shapeKey(filter)} ${g.pads} ${g.info.strideHeight},${g.info.strideWidth} d${g.info.dilationHeight},${g.info.dilationWidth}`;
  return runGraph(
    ops,
    key,
    () => forwardGraph(g, false, false),
    { x, w: filter },
    "y",
    g.info.outShape,
    {
      inputs: ["x"],
      build: (batch) => {
        const part = geometry([batch, ...x.shape.slice(1)], filter.shape, attrs, dilations);
        return part && forwardGraph(part, false, false);
      },
    },
  );
};
