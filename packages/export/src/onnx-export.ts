// Converts a tfjs LayersModel to an ONNX model by walking its layer graph. Tensors are NCHW
// inside the graph (what ONNX convolutions expect); the graph input stays NHWC like the tfjs
// model, so the same preprocessed batch feeds both, and a Transpose does the rest.
import type { LayersModel } from "@tensorflow/tfjs-layers";
import onnxProto from "onnx-proto";
import { ExportError } from "./errors.js";

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;

/** The opset every node is written against. */
export const ONNX_OPSET = 13;

/** Layer classes the exporter understands; anything else is refused by name. */
export const SUPPORTED_LAYERS = [
  "InputLayer",
  "Conv2D",
  "BatchNormalization",
  "ReLU",
  "Activation",
  "Add",
  "GlobalAveragePooling2D",
  "MaxPooling2D",
  "AveragePooling2D",
  "ZeroPadding2D",
  "Flatten",
  "Dropout",
  "Dense",
  "Rescaling",
] as const;

export interface OnnxExportOptions {
  /** Name of the graph's NHWC input. Defaults to `"input"`. */
  inputName?: string;
  /** Name of the graph's output. Defaults to `"logits"`. */
  outputName?: string;
  /** Fold each BatchNormalization into the convolution before it. Defaults to `true`. */
  foldBatchNorm?: boolean;
  /** Free text stored as the model's doc string. Defaults to `""`. */
  docString?: string;
  /**
   * Key/value pairs stored as the model's `metadata_props` (read by onnx's
   * `model.metadata_props`, ONNX Runtime's `get_modelmeta().custom_metadata_map`, Netron).
   * Defaults to `{}`.
   */
  metadata?: Readonly<Record<string, string>>;
}

export interface OnnxExport {
  /** The serialised ModelProto. */
  bytes: Uint8Array;
  input: string;
  output: string;
  opset: number;
  /** How many BatchNormalization layers were folded into convolutions. */
  foldedBatchNorms: number;
}

/** A tfjs layer, as far as the walker needs it (tfjs's own typings hide most of this). */
interface WalkLayer {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  weights: {
    name: string;
    originalName: string;
    read(): {
      dataSync(): Float32Array | Int32Array | Uint8Array;
      data(): Promise<Float32Array | Int32Array | Uint8Array>;
      shape: number[];
    };
  }[];
  inboundNodes: { inboundLayers: WalkLayer[]; tensorIndices: number[] }[];
  outputShape: (number | null)[] | (number | null)[][];
  inputSpec?: unknown;
}

interface Sym {
  name: string;
  /** Shape in tfjs order (NHWC for rank 4), batch as null. */
  shape: (number | null)[];
  /**
   * Zero padding (ONNX order: top, left, bottom, right) not yet applied to `name`: a Conv2D
   * absorbs it into its own pads, any other consumer gets an explicit Pad node first.
   */
  pendingPads?: number[];
}

function floatTensor(name: string, dims: number[], values: Float32Array): ITensorProto {
  const copy = new Float32Array(values); // own buffer, little-endian like ONNX raw_data (Node is LE)
  return {
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(copy.buffer),
  };
}

const ints = (name: string, values: number[]): IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INTS,
  ints: values,
});
const int = (name: string, value: number): IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i: value,
});
const float = (name: string, value: number): IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.FLOAT,
  f: value,
});

type WalkWeight = WalkLayer["weights"][number];
/** A weight's values: read synchronously (`exportOnnx`) or read beforehand (`exportOnnxAsync`). */
type ReadWeight = (w: WalkWeight) => ArrayLike<number>;

/** Finds a layer weight by its role (`kernel`, `gamma`, …), tolerating tfjs's `_1` uniquifying suffixes. */
function findWeight(
  layer: WalkLayer,
  role: string,
  read: ReadWeight,
): { values: Float32Array; shape: number[] } | undefined {
  const w = layer.weights.find((v) => {
    const last = v.originalName.split("/").pop() ?? "";
    return last === role || last.replace(/_\d+$/, "") === role;
  });
  if (!w) return undefined;
  return { values: Float32Array.from(read(w)), shape: w.read().shape };
}

function pair(v: unknown, what: string, layer: WalkLayer): [number, number] {
  const a = Array.isArray(v) ? v : [v, v];
  if (a.length !== 2 || !a.every((x) => typeof x === "number")) {
    throw new ExportError(
      "onnx_unsupported",
      `layer "${layer.name}": expected ${what} as two numbers, got ${JSON.stringify(v)}`,
    );
  }
  return a as [number, number];
}

/** Explicit ONNX pads reproducing TF's "same" padding (the extra pixel goes at the end). */
function samePads(
  size: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilation: [number, number],
) {
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const n = size[i] as number;
    const s = strides[i] as number;
    const k = ((kernel[i] as number) - 1) * (dilation[i] as number) + 1;
    const out = Math.ceil(n / s);
    const total = Math.max((out - 1) * s + k - n, 0);
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
  }
  return [...begin, ...end];
}

/**
 * Serialises `model` as ONNX (IR 8, opset 13). The graph input is NHWC float32 with a symbolic
 * batch dimension `N`; the output is the model's output (logits). Unknown layers are refused
 * with an error naming the layer, never silently skipped. Reads the weights synchronously: on a
 * GPU backend (webgpu, webgl) use `exportOnnxAsync`.
 */
export function exportOnnx(model: LayersModel, options: OnnxExportOptions = {}): OnnxExport {
  return convert(model, options, (w) => w.read().dataSync());
}

/**
 * `exportOnnx` reading the weights with `await` first (all of them concurrently), for
 * backends whose tensors live on a GPU and cannot be read synchronously (webgpu; webgl, where a
 * synchronous read stalls the page). The same bytes as `exportOnnx`.
 */
export async function exportOnnxAsync(
  model: LayersModel,
  options: OnnxExportOptions = {},
): Promise<OnnxExport> {
  const weights = (model.layers as unknown as WalkLayer[]).flatMap((layer) => layer.weights);
  const values = await Promise.all(weights.map((w) => w.read().data()));
  const read = new Map<WalkWeight, ArrayLike<number>>(weights.map((w, i) => [w, values[i]!]));
  return convert(model, options, (w) => {
    const found = read.get(w);
    if (!found) throw new Error(`exportOnnxAsync: weight "${w.name}" was not read beforehand`);
    return found;
  });
}

function convert(model: LayersModel, options: OnnxExportOptions, read: ReadWeight): OnnxExport {
  const weight = (layer: WalkLayer, role: string) => findWeight(layer, role, read);
  const requireWeight = (layer: WalkLayer, role: string) => {
    const w = weight(layer, role);
    if (!w)
      throw new ExportError(
        "onnx_unsupported",
        `layer "${layer.name}" (${layer.getClassName()}): expected a ${role} weight, found none`,
      );
    return w;
  };
  const inputName = options.inputName ?? "input";
  const outputName = options.outputName ?? "logits";
  const foldBatchNorm = options.foldBatchNorm ?? true;

  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ExportError(
      "onnx_unsupported",
      `model "${model.name}": expected one input and one output, got ${model.inputs.length} and ${model.outputs.length}`,
    );
  }
  const layers = model.layers as unknown as WalkLayer[];
  const inputLayer = (model.inputs[0] as unknown as { sourceLayer: WalkLayer }).sourceLayer;
  const outputLayer = (model.outputs[0] as unknown as { sourceLayer: WalkLayer }).sourceLayer;
  // Sequential models keep their InputLayer outside `layers`.
  const all = layers.includes(inputLayer) ? layers : [inputLayer, ...layers];

  const consumers = new Map<string, number>();
  for (const layer of all) {
    if (layer.inboundNodes.length > 1) {
      throw new ExportError(
        "onnx_unsupported",
        `layer "${layer.name}": is applied ${layer.inboundNodes.length} times (a shared layer); the exporter handles each layer once`,
      );
    }
    for (const src of layer.inboundNodes[0]?.inboundLayers ?? [])
      consumers.set(src.name, (consumers.get(src.name) ?? 0) + 1);
  }

  const nodes: INodeProto[] = [];
  const initializers: ITensorProto[] = [];
  const symbols = new Map<string, Sym>();
  const folded = new Set<string>();
  let foldedBatchNorms = 0;

  const padded = new Map<string, Sym>();
  /** An explicit ONNX Pad node for a ZeroPadding2D that no convolution absorbed. */
  const materialize = (src: string, s: Sym): Sym => {
    if (!s.pendingPads) return s;
    const done = padded.get(src);
    if (done) return done;
    const [t, l, b, r] = s.pendingPads as [number, number, number, number];
    const out = `${src}/pad`;
    initializers.push({
      name: `${src}/pads`,
      dims: [8],
      dataType: onnx.TensorProto.DataType.INT64,
      int64Data: [0, 0, t, l, 0, 0, b, r],
    });
    nodes.push({ name: out, opType: "Pad", input: [s.name, `${src}/pads`], output: [out] });
    const sym = { name: out, shape: s.shape };
    padded.set(src, sym);
    return sym;
  };
  const inputsOf = (layer: WalkLayer, keepPads = false): Sym[] =>
    (layer.inboundNodes[0]?.inboundLayers ?? []).map((src) => {
      const s = symbols.get(src.name);
      if (!s)
        throw new ExportError(
          "onnx_unsupported",
          `layer "${layer.name}": input "${src.name}" was not converted before it`,
        );
      return keepPads ? s : materialize(src.name, s);
    });
  const one = (layer: WalkLayer, keepPads = false): Sym => {
    const ins = inputsOf(layer, keepPads);
    if (ins.length !== 1)
      throw new ExportError(
        "onnx_unsupported",
        `layer "${layer.name}": expected one input, got ${ins.length}`,
      );
    return ins[0] as Sym;
  };
  const shapeOf = (layer: WalkLayer): (number | null)[] => {
    const s = layer.outputShape;
    return (Array.isArray(s[0]) ? s[0] : s) as (number | null)[];
  };
  const requireNHWC = (layer: WalkLayer, sym: Sym) => {
    if (sym.shape.length !== 4) {
      throw new ExportError(
        "onnx_unsupported",
        `layer "${layer.name}": expected a rank-4 NHWC input, got shape ${JSON.stringify(sym.shape)}`,
      );
    }
    const cfg = layer.getConfig();
    if (cfg.dataFormat !== undefined && cfg.dataFormat !== "channelsLast") {
      throw new ExportError(
        "onnx_unsupported",
        `layer "${layer.name}": expected dataFormat channelsLast, got ${String(cfg.dataFormat)}`,
      );
    }
  };
  /** Appends an activation after `tensor`, returning the tensor to use downstream. */
  /** A float scalar initializer named `name` (shared by every use of the same value). */
  const constant = (name: string, value: number): string => {
    if (!initializers.some((t) => t.name === name)) {
      initializers.push(floatTensor(name, [], Float32Array.of(value)));
    }
    return name;
  };
  const activation = (layer: WalkLayer, kind: unknown, tensor: string, rank: number): string => {
    if (kind === undefined || kind === null || kind === "linear") return tensor;
    const out = `${layer.name}/${String(kind)}`;
    if (kind === "gelu") {
      // tfjs-layers' exact GELU, x·½(1 + erf(x/√2)), from opset-13 operators (Gelu is opset 20).
      const step = (op: string, input: string[], suffix: string) => {
        const o = `${out}/${suffix}`;
        nodes.push({ name: o, opType: op, input, output: [o] });
        return o;
      };
      const scaled = step("Mul", [tensor, constant("const/inv_sqrt2", Math.SQRT1_2)], "scaled");
      const erf = step("Erf", [scaled], "erf");
      const onePlus = step("Add", [erf, constant("const/one", 1)], "one_plus");
      const half = step("Mul", [onePlus, constant("const/half", 0.5)], "half");
      nodes.push({ name: out, opType: "Mul", input: [tensor, half], output: [out] });
      return out;
    }
    const ops: Record<string, string> = {
      relu: "Relu",
      sigmoid: "Sigmoid",
      tanh: "Tanh",
      softmax: "Softmax",
    };
    const op = ops[String(kind)];
    if (!op || (op === "Softmax" && rank !== 2)) {
      throw new ExportError(
        "onnx_unsupported",
        `layer "${layer.name}": activation "${String(kind)}" is not supported (expected one of linear, gelu, ${Object.keys(ops).join(", ")}${op ? " on a rank-2 tensor" : ""})`,
      );
    }
    nodes.push({
      name: out,
      opType: op,
      input: [tensor],
      output: [out],
      attribute: op === "Softmax" ? [int("axis", -1)] : [],
    });
    return out;
  };

  for (const layer of all) {
    if (folded.has(layer.name)) continue;
    const cls = layer.getClassName();
    const cfg = layer.getConfig();
    const shape = shapeOf(layer);
    const name = layer.name;
    switch (cls) {
      case "InputLayer": {
        if (shape.length === 4) {
          nodes.push({
            name: `${name}/to_nchw`,
            opType: "Transpose",
            input: [inputName],
            output: [`${name}/nchw`],
            attribute: [ints("perm", [0, 3, 1, 2])],
          });
          symbols.set(name, { name: `${name}/nchw`, shape });
        } else {
          symbols.set(name, { name: inputName, shape });
        }
        break;
      }
      case "Conv2D": {
        // A ZeroPadding2D before the conv becomes part of the conv's own pads.
        const x = one(layer, true);
        requireNHWC(layer, x);
        const kernel = requireWeight(layer, "kernel"); // [kh, kw, in, out]
        const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
        const strides = pair(cfg.strides, "strides", layer);
        const dilation = pair(cfg.dilationRate ?? 1, "dilationRate", layer);
        const kernelSize: [number, number] = [kh, kw];
        let pads: number[];
        if (cfg.padding === "valid") pads = [0, 0, 0, 0];
        else if (cfg.padding === "same") {
          const h = x.shape[1];
          const w = x.shape[2];
          if (typeof h !== "number" || typeof w !== "number") {
            throw new ExportError(
              "onnx_unsupported",
              `layer "${name}": "same" padding needs a static input size, got ${JSON.stringify(x.shape)}`,
            );
          }
          pads = samePads([h, w], kernelSize, strides, dilation);
        } else {
          throw new ExportError(
            "onnx_unsupported",
            `layer "${name}": padding "${String(cfg.padding)}" is not supported (expected same or valid)`,
          );
        }
        const extra = x.pendingPads;
        if (extra) pads = pads.map((p, i) => p + (extra[i] as number));
        // [kh, kw, in, out] → [out, in, kh, kw]
        const w = new Float32Array(kernel.values.length);
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++)
            for (let c = 0; c < cin; c++)
              for (let o = 0; o < cout; o++)
                w[((o * cin + c) * kh + i) * kw + j] = kernel.values[
                  ((i * kw + j) * cin + c) * cout + o
                ] as number;
        const bias = weight(layer, "bias")?.values ?? new Float32Array(cout);
        let outName = name;
        let act = cfg.activation;
        // Fold a BatchNormalization that is this conv's only consumer (inference-time identity).
        const next = all.find((l) => l.inboundNodes[0]?.inboundLayers.some((s) => s.name === name));
        if (
          foldBatchNorm &&
          next &&
          next.getClassName() === "BatchNormalization" &&
          consumers.get(name) === 1 &&
          (act === undefined || act === "linear") &&
          [-1, 3].includes(next.getConfig().axis as number)
        ) {
          const bnCfg = next.getConfig();
          const eps = bnCfg.epsilon as number;
          const gamma = weight(next, "gamma")?.values;
          const beta = weight(next, "beta")?.values;
          const mean = requireWeight(next, "moving_mean").values;
          const variance = requireWeight(next, "moving_variance").values;
          for (let o = 0; o < cout; o++) {
            const scale =
              (gamma ? (gamma[o] as number) : 1) / Math.sqrt((variance[o] as number) + eps);
            for (let k = 0; k < cin * kh * kw; k++)
              w[o * cin * kh * kw + k] = (w[o * cin * kh * kw + k] as number) * scale;
            bias[o] =
              ((bias[o] as number) - (mean[o] as number)) * scale +
              (beta ? (beta[o] as number) : 0);
          }
          folded.add(next.name);
          foldedBatchNorms++;
          outName = next.name;
          act = undefined;
        }
        initializers.push(
          floatTensor(`${name}/W`, [cout, cin, kh, kw], w),
          floatTensor(`${name}/B`, [cout], bias),
        );
        nodes.push({
          name,
          opType: "Conv",
          input: [x.name, `${name}/W`, `${name}/B`],
          output: [outName],
          attribute: [
            ints("kernel_shape", kernelSize),
            ints("strides", strides),
            ints("dilations", dilation),
            ints("pads", pads),
            int("group", 1),
          ],
        });
        const final = activation(layer, act, outName, 4);
        symbols.set(outName, {
          name: final,
          shape: shapeOf(outName === name ? layer : (next as WalkLayer)),
        });
        break;
      }
      case "BatchNormalization": {
        const x = one(layer);
        const axis = cfg.axis as number;
        if (axis !== -1 && axis !== x.shape.length - 1) {
          throw new ExportError(
            "onnx_unsupported",
            `layer "${name}": expected normalisation over the last (channel) axis, got axis ${axis}`,
          );
        }
        const mean = requireWeight(layer, "moving_mean").values;
        const c = mean.length;
        const gamma = weight(layer, "gamma")?.values ?? new Float32Array(c).fill(1);
        const beta = weight(layer, "beta")?.values ?? new Float32Array(c);
        initializers.push(
          floatTensor(`${name}/scale`, [c], gamma),
          floatTensor(`${name}/bias`, [c], beta),
          floatTensor(`${name}/mean`, [c], mean),
          floatTensor(`${name}/var`, [c], requireWeight(layer, "moving_variance").values),
        );
        nodes.push({
          name,
          opType: "BatchNormalization",
          input: [x.name, `${name}/scale`, `${name}/bias`, `${name}/mean`, `${name}/var`],
          output: [name],
          attribute: [float("epsilon", cfg.epsilon as number)],
        });
        symbols.set(name, { name, shape });
        break;
      }
      case "ReLU": {
        const x = one(layer);
        if (cfg.maxValue !== undefined && cfg.maxValue !== null) {
          throw new ExportError(
            "onnx_unsupported",
            `layer "${name}": ReLU with maxValue ${String(cfg.maxValue)} is not supported`,
          );
        }
        nodes.push({ name, opType: "Relu", input: [x.name], output: [name] });
        symbols.set(name, { name, shape });
        break;
      }
      case "Activation": {
        const x = one(layer);
        symbols.set(name, {
          name: activation(layer, cfg.activation, x.name, x.shape.length),
          shape,
        });
        break;
      }
      case "Rescaling": {
        // x·scale + offset (the fast recipe's logit scale).
        const x = one(layer);
        const scale = Number(cfg.scale ?? 1);
        const offset = Number(cfg.offset ?? 0);
        let out = x.name;
        if (scale !== 1) {
          const o = offset === 0 ? name : `${name}/scaled`;
          nodes.push({
            name: o,
            opType: "Mul",
            input: [out, constant(`${name}/scale`, scale)],
            output: [o],
          });
          out = o;
        }
        if (offset !== 0 || out === x.name) {
          nodes.push({
            name,
            opType: offset === 0 ? "Identity" : "Add",
            input: offset === 0 ? [out] : [out, constant(`${name}/offset`, offset)],
            output: [name],
          });
        }
        symbols.set(name, { name, shape });
        break;
      }
      case "Dropout": {
        symbols.set(name, one(layer)); // identity at inference
        break;
      }
      case "Add": {
        const ins = inputsOf(layer);
        if (ins.length < 2)
          throw new ExportError(
            "onnx_unsupported",
            `layer "${name}": expected at least two inputs, got ${ins.length}`,
          );
        let acc = (ins[0] as Sym).name;
        for (let i = 1; i < ins.length; i++) {
          const out = i === ins.length - 1 ? name : `${name}/partial${i}`;
          nodes.push({
            name: out,
            opType: "Add",
            input: [acc, (ins[i] as Sym).name],
            output: [out],
          });
          acc = out;
        }
        symbols.set(name, { name, shape });
        break;
      }
      case "GlobalAveragePooling2D": {
        const x = one(layer);
        requireNHWC(layer, x);
        nodes.push({
          name: `${name}/pool`,
          opType: "GlobalAveragePool",
          input: [x.name],
          output: [`${name}/pool`],
        });
        nodes.push({
          name,
          opType: "Flatten",
          input: [`${name}/pool`],
          output: [name],
          attribute: [int("axis", 1)],
        });
        symbols.set(name, { name, shape });
        break;
      }
      case "MaxPooling2D":
      case "AveragePooling2D": {
        const x = one(layer);
        requireNHWC(layer, x);
        const pool = pair(cfg.poolSize, "poolSize", layer);
        const strides = pair(cfg.strides ?? cfg.poolSize, "strides", layer);
        let pads = [0, 0, 0, 0];
        if (cfg.padding === "same")
          pads = samePads([x.shape[1] as number, x.shape[2] as number], pool, strides, [1, 1]);
        const attrs = [ints("kernel_shape", pool), ints("strides", strides), ints("pads", pads)];
        // TF's average pool leaves padding out of the count, as ONNX does by default.
        nodes.push({
          name,
          opType: cls === "MaxPooling2D" ? "MaxPool" : "AveragePool",
          input: [x.name],
          output: [name],
          attribute: attrs,
        });
        symbols.set(name, { name, shape });
        break;
      }
      case "ZeroPadding2D": {
        const x = one(layer);
        requireNHWC(layer, x);
        const [[top, bottom], [left, right]] = cfg.padding as [[number, number], [number, number]];
        symbols.set(name, { name: x.name, shape, pendingPads: [top, left, bottom, right] });
        break;
      }
      case "Flatten": {
        const x = one(layer);
        let src = x.name;
        if (x.shape.length === 4) {
          // tfjs flattens in NHWC order; go back to it so Dense weights line up.
          nodes.push({
            name: `${name}/to_nhwc`,
            opType: "Transpose",
            input: [src],
            output: [`${name}/nhwc`],
            attribute: [ints("perm", [0, 2, 3, 1])],
          });
          src = `${name}/nhwc`;
        }
        nodes.push({
          name,
          opType: "Flatten",
          input: [src],
          output: [name],
          attribute: [int("axis", 1)],
        });
        symbols.set(name, { name, shape });
        break;
      }
      case "Dense": {
        const x = one(layer);
        if (x.shape.length !== 2) {
          throw new ExportError(
            "onnx_unsupported",
            `layer "${name}": expected a rank-2 input (after pooling or Flatten), got ${JSON.stringify(x.shape)}`,
          );
        }
        const kernel = requireWeight(layer, "kernel"); // [in, out], what Gemm wants with transB = 0
        const units = kernel.shape[1] as number;
        initializers.push(
          floatTensor(`${name}/W`, kernel.shape, kernel.values),
          floatTensor(
            `${name}/B`,
            [units],
            weight(layer, "bias")?.values ?? new Float32Array(units),
          ),
        );
        nodes.push({
          name,
          opType: "Gemm",
          input: [x.name, `${name}/W`, `${name}/B`],
          output: [name],
          attribute: [int("transB", 0)],
        });
        symbols.set(name, { name: activation(layer, cfg.activation, name, 2), shape });
        break;
      }
      default:
        throw new ExportError(
          "onnx_unsupported",
          `layer "${name}" (${cls}): no ONNX conversion for this layer class; supported: ${SUPPORTED_LAYERS.join(", ")}`,
        );
    }
  }

  const last = symbols.get(outputLayer.name);
  const out = last && materialize(outputLayer.name, last);
  if (!out)
    throw new ExportError(
      "onnx_unsupported",
      `output layer "${outputLayer.name}" was not converted`,
    );
  // Give the final tensor the graph output's name (renaming every use, so none dangles).
  if (out.shape.length === 4) {
    // An image-shaped output goes back to NHWC, the layout the graph declares.
    nodes.push({
      name: "output",
      opType: "Transpose",
      input: [out.name],
      output: [outputName],
      attribute: [ints("perm", [0, 2, 3, 1])],
    });
  } else if (out.name === inputName) {
    nodes.push({ name: "output", opType: "Identity", input: [out.name], output: [outputName] });
  } else {
    const rename = (n: string) =>
      n === out.name ? outputName : n === outputName ? `${n}/inner` : n;
    for (const node of nodes) {
      node.input = (node.input ?? []).map(rename);
      node.output = (node.output ?? []).map(rename);
    }
  }

  const dims = (shape: (number | null)[]) =>
    shape.map((d) => (d === null ? { dimParam: "N" } : { dimValue: d }));
  const inShape = shapeOf(inputLayer);
  const outShape = shapeOf(outputLayer);
  const modelProto = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "@cnnkit/export",
    producerVersion: "1",
    docString: options.docString ?? "",
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: model.name,
      node: nodes,
      initializer: initializers,
      input: [
        {
          name: inputName,
          type: {
            tensorType: {
              elemType: onnx.TensorProto.DataType.FLOAT,
              shape: { dim: dims(inShape) },
            },
          },
        },
      ],
      output: [
        {
          name: outputName,
          type: {
            tensorType: {
              elemType: onnx.TensorProto.DataType.FLOAT,
              shape: { dim: dims(outShape) },
            },
          },
        },
      ],
    },
  });
  return {
    bytes: onnx.ModelProto.encode(modelProto).finish(),
    input: inputName,
    output: outputName,
    opset: ONNX_OPSET,
    foldedBatchNorms,
  };
}
