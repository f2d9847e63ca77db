// A tfjs model's whole training step — forward with batch statistics, softmax cross-entropy, and
// every gradient — written as one ONNX graph for ONNX Runtime, with the activations in its
// blocked NCHWc layout from the first convolution to the pooling before the head.
//
// Why: layer by layer, each tfjs kernel pays for its own bookkeeping, and each convolution handed
// to ONNX Runtime for copies in and out of the wasm heap and two layout reorders; on small
// networks those costs outweigh the arithmetic (the narrow 16/32/64 ResNet trained at 0.4x
// PyTorch's images/s). One session per step pays them once per step.
//
// Layout. Every 4-D activation is stored blocked: memory [N, C/B, H, W, B] with B = MLAS's NCHWc
// block (8 with AVX2, 16 with AVX-512) and C rounded up to whole blocks with zero channels. The
// NCHWc convolutions read and write it declared as [N, C, H, W]; BatchNorm, ReLU and the adds
// work on a 5-D view of the same memory (a Reshape, no copy), reducing over axes 0, 2 and 3 and
// broadcasting per-channel values expanded to one image's size first (a [1, C/B, 1, 1, B]
// operand made ONNX Runtime's broadcasting loop walk 16-float spans: 1.14x slower steps). Padding
// channels stay zero through every layer: their filters, BatchNorm scale and shift are zero.
//
// Gradients, by layer (B = block, x/dy the layer's input and output gradient):
// - Conv2D, input gradient: stride 1 is the convolution of dy with the filter flipped in space
//   and with in/out channels swapped (again a blocked convolution); strides > 1 go through
//   ConvTranspose in NCHW (ReorderOutput/ReorderInput around it).
// - Conv2D, filter gradient: one blocked convolution with the batch's images as its input
//   channels — the input laid out [ci, N, h, w] convolved with dy laid out [co, N, oh, ow] as the
//   filter gives [ci, co, kh, kw], up to 32 input channels side by side along the width
//   (filterGradInterleave) — where the batch fills whole blocks and the input is a blocked
//   activation; otherwise (the model's image, other batch sizes) one product per filter tap,
//   dW[a,b] = X_abᵀ·dY over all pixels of the batch, X_ab the (strided) tap of the NHWC input.
// - BatchNormalization: dβ = Σdy, dγ = Σdy·x̂, dx = γ/σ·(dy − dβ/M − x̂·dγ/M), written as
//   dx = a·dy + b·(x − μ) + c with per-channel a, b, c; both it and the forward's affine map run
//   as a 1x1 depthwise blocked convolution (per-channel scale, bias, and an added tensor).
// - GELU: forward com.microsoft.Gelu; gradient dy·(Φ(x) + x·φ(x)) in elementwise passes.
// - MaxPooling2D: ONNX's MaxPool in NCHW with each window's argmax, MaxUnpool for the gradient
//   (dy to the first largest value of each window, as tfjs); a pool to one pixel ends the maps.
import {
  blockedFilter as blockedFilterNodes,
  filterGradInterleave,
  NCHWC,
  whole as wholeBlocks,
} from "./blocked-conv.js";
import type { OnnxGraph, OnnxNode } from "./onnx-model.js";

/** The part of a tfjs-layers `LayerVariable` the graph needs. */
export interface GraphVariable {
  readonly name: string;
  readonly shape: readonly number[];
  readonly trainable: boolean;
}

/** The part of a tfjs-layers `Layer` the graph reads. */
export interface GraphLayer {
  readonly name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  readonly weights: readonly GraphVariable[];
  readonly inboundNodes: readonly { readonly inboundLayers: readonly GraphLayer[] }[];
}

/** The part of a tfjs-layers `LayersModel` the graph reads. */
export interface GraphModel {
  readonly name: string;
  readonly layers: readonly GraphLayer[];
  readonly inputs: readonly {
    readonly sourceLayer: GraphLayer;
    readonly shape: readonly (number | null)[];
  }[];
  readonly outputs: readonly { readonly sourceLayer: GraphLayer }[];
}

export interface TrainingGraphOptions {
  /** Images per step (the graph's shapes are fixed). */
  batchSize: number;
  /** MLAS's NCHWc block: 8 or 16 (`probeBlockSize`). */
  blockSize: number;
}

/** A weight the graph reads, fed from `variable` on every step. */
export interface GraphWeightFeed {
  /** The graph input's name. */
  readonly input: string;
  readonly variable: GraphVariable;
}

/** A trainable weight's gradient: graph output `output`, shaped as the variable. */
export interface GraphGradient {
  readonly output: string;
  readonly variable: GraphVariable;
}

/** A BatchNormalization layer's batch statistics (outputs), for its moving averages. */
export interface GraphBatchStatistics {
  readonly layer: GraphLayer;
  readonly meanOutput: string;
  readonly varianceOutput: string;
  /** Values per channel in the batch (N·H·W), for an unbiased variance. */
  readonly count: number;
  readonly movingMean?: GraphVariable;
  readonly movingVariance?: GraphVariable;
}

export interface TrainingGraph {
  readonly graph: OnnxGraph;
  /** The NHWC image input `x` ([batch, H, W, C]) and the targets `targets` ([batch, classes]). */
  readonly inputShape: readonly [number, number, number, number];
  readonly classes: number;
  readonly weights: readonly GraphWeightFeed[];
  readonly gradients: readonly GraphGradient[];
  readonly batchStatistics: readonly GraphBatchStatistics[];
}

/** Layer classes {@link trainingGraph} writes. */
export const TRAINING_GRAPH_LAYERS = [
  "InputLayer",
  "Conv2D",
  "BatchNormalization",
  "ReLU",
  "Activation",
  "Add",
  "ZeroPadding2D",
  "GlobalAveragePooling2D",
  "MaxPooling2D",
  "Flatten",
  "Dense",
  "Dropout",
  "Rescaling",
] as const;

/** Why a model cannot be written as a training graph: a message naming the layer. */
export class TrainingGraphUnsupported extends Error {
  override readonly name = "TrainingGraphUnsupported";
}

const MS = "com.microsoft";

/** An image (the model input, NHWC), a blocked activation, or a [N, F] matrix. */
type Value =
  | { kind: "image"; name: string; h: number; w: number; c: number; pads?: Pads }
  | { kind: "act"; name: string; h: number; w: number; c: number; pads?: Pads }
  | { kind: "vec"; name: string; f: number };

type Pads = readonly [number, number, number, number]; // top, left, bottom, right

function pair(v: unknown, what: string, layer: GraphLayer): [number, number] {
  const p = Array.isArray(v) ? v : [v, v];
  if (p.length !== 2 || !p.every((n) => Number.isSafeInteger(n) && n > 0)) {
    throw new TrainingGraphUnsupported(
      `layer "${layer.name}": expected ${what} as one or two positive integers, got ${JSON.stringify(v)}`,
    );
  }
  return p as [number, number];
}

/** tfjs's "same" padding along one axis (the extra pixel, if any, at the bottom/right). */
function samePad(size: number, k: number, s: number): [number, number] {
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * Writes `model`'s training step as one ONNX graph (see the file's comment). Throws
 * {@link TrainingGraphUnsupported} naming the first layer it cannot write.
 */
export function trainingGraph(model: GraphModel, options: TrainingGraphOptions): TrainingGraph {
  const N = options.batchSize;
  const B = options.blockSize;
  if (!Number.isSafeInteger(N) || N < 1) {
    throw new TrainingGraphUnsupported(`batchSize: expected a positive integer, got ${N}`);
  }
  if (B !== 8 && B !== 16) {
    throw new TrainingGraphUnsupported(
      `ONNX Runtime's blocked (NCHWc) kernels are unavailable here (block ${B}); they exist on x86-64 with AVX2 or AVX-512`,
    );
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new TrainingGraphUnsupported(
      `model "${model.name}": expected one input and one output, got ${model.inputs.length} and ${model.outputs.length}`,
    );
  }
  const inShape = model.inputs[0]?.shape ?? [];
  if (inShape.length !== 4 || inShape.slice(1).some((d) => d == null)) {
    throw new TrainingGraphUnsupported(
      `model "${model.name}": expected one NHWC image input of a fixed size, got [${inShape.join(", ")}]`,
    );
  }
  const [H0, W0, C0] = inShape.slice(1) as [number, number, number];
  const inputLayer = model.inputs[0]?.sourceLayer as GraphLayer;
  const outputLayer = model.outputs[0]?.sourceLayer as GraphLayer;
  const all = model.layers.includes(inputLayer) ? model.layers : [inputLayer, ...model.layers];

  const nodes: OnnxNode[] = [];
  const ints: Record<string, number[]> = {};
  const floats: Record<string, number | number[]> = {};
  const weights: GraphWeightFeed[] = [];
  const gradients: GraphGradient[] = [];
  const stats: GraphBatchStatistics[] = [];
  const outputs: { name: string; shape?: number[] }[] = [];
  let counter = 0;

  const fresh = (hint: string) => `${hint}_${++counter}`;
  const op = (
    type: string,
    inputs: string[],
    attributes?: OnnxNode["attributes"],
    domain?: string,
  ): string => {
    const out = fresh(type);
    nodes.push({
      op: type,
      inputs,
      outputs: [out],
      ...(attributes ? { attributes } : {}),
      ...(domain ? { domain } : {}),
    });
    return out;
  };
  const I = (values: readonly number[]): string => {
    const key = `i64[${values.join(",")}]`;
    ints[key] ??= [...values];
    return key;
  };
  const F = (value: number): string => {
    const key = `f32(${value})`;
    floats[key] ??= value;
    return key;
  };
  const Fv = (values: readonly number[]): string => {
    const name = fresh("f32v");
    floats[name] = [...values];
    return name;
  };
  const whole = (c: number) => wholeBlocks(c, B);
  const output = (name: string, value: string, shape?: number[]) => {
    nodes.push({ op: "Identity", inputs: [value], outputs: [name] });
    outputs.push(shape ? { name, shape } : { name });
  };

  // --- views and per-channel vectors -------------------------------------------------------
  const view5 = (v: { name: string; h: number; w: number; c: number }) =>
    op("Reshape", [v.name, I([N, whole(v.c) / B, v.h, v.w, B])]);
  const view4 = (name: string, c: number, h: number, w: number) =>
    op("Reshape", [name, I([N, whole(c), h, w])]);
  /** A [C] vector padded with zeros to whole blocks, as [1, C/B, 1, 1, B]. */
  const channelVector = (name: string, c: number) => {
    const padded = whole(c) === c ? name : op("Pad", [name, I([0, whole(c) - c])]);
    return op("Reshape", [padded, I([1, whole(c) / B, 1, 1, B])]);
  };
  /** A [1, C/B, 1, 1, B] vector expanded to one image, [1, C/B, H, W, B]. */
  const perImage = (vec: string, c: number, h: number, w: number) =>
    op("Expand", [vec, I([1, whole(c) / B, h, w, B])]);
  /** A [1, C/B, 1, 1, B] vector back to [C]. */
  const unpadVector = (vec: string, c: number) => {
    const flat = op("Reshape", [vec, I([whole(c)])]);
    return whole(c) === c ? flat : op("Slice", [flat, I([0]), I([c]), I([0])]);
  };

  /**
   * Σ over batch and pixels of a 5-D blocked tensor, per channel, as [1, C/B, 1, 1, B]: `kind`
   * ReduceSum or ReduceSumSquare. ONNX Runtime reduces [N, C/B, H, W, B] over axes 0, 2 and 3
   * with its general loop; over the pixels of [N·C/B, HW, B] (kept, reduced, kept) and then over
   * the images of [N, C] it takes its fast paths: whole steps 1.10-1.12x on the narrow net, 1.10x
   * on the tiny one, 1.07x on SmallResNet (20 and 6 alternating runs).
   */
  const channelSum = (t5: string, c: number, h: number, w: number, kind = "ReduceSum") => {
    const cb = whole(c) / B;
    const flat = op("Reshape", [t5, I([N * cb, h * w, B])]);
    const pixels =
      kind === "ReduceSum"
        ? op("ReduceSum", [flat, I([1])], { keepdims: 0 })
        : op(kind, [flat], { axes: [1], keepdims: 0 });
    const images = op("ReduceSum", [op("Reshape", [pixels, I([N, whole(c)])]), I([0])], {
      keepdims: 0,
    });
    return op("Reshape", [images, I([1, cb, 1, 1, B])]);
  };

  // --- filters ---------------------------------------------------------------------------------
  /** HWIO [kh, kw, ci, co] → padded to whole blocks → MLAS's blocked filter (blocked-conv.ts). */
  const blockedFilter = (hwio: string, kh: number, kw: number, ci: number, co: number) => {
    const dst = fresh("filter");
    nodes.push(...blockedFilterNodes(hwio, dst, [kh, kw, ci, co], ints, B));
    return dst;
  };

  // --- the walk --------------------------------------------------------------------------------
  const values = new Map<string, Value>();
  /** Backward steps in forward order; run in reverse. Each reads its output's gradient. */
  const backward: { layer: string; run: (dy: string) => void }[] = [];
  /** Gradient contributions per layer output, summed when the layer's backward step runs. */
  const contributions = new Map<string, string[]>();
  const contribute = (layerName: string, grad: string) => {
    const list = contributions.get(layerName) ?? [];
    list.push(grad);
    contributions.set(layerName, list);
  };

  const inputsOf = (layer: GraphLayer): { layer: GraphLayer; value: Value }[] => {
    if (layer.inboundNodes.length > 1) {
      throw new TrainingGraphUnsupported(
        `layer "${layer.name}": is applied ${layer.inboundNodes.length} times (a shared layer); the graph handles each layer once`,
      );
    }
    return (layer.inboundNodes[0]?.inboundLayers ?? []).map((src) => {
      const value = values.get(src.name);
      if (!value) {
        throw new TrainingGraphUnsupported(
          `layer "${layer.name}": input "${src.name}" was not written before it`,
        );
      }
      return { layer: src, value };
    });
  };
  const oneInput = (layer: GraphLayer) => {
    const ins = inputsOf(layer);
    if (ins.length !== 1) {
      throw new TrainingGraphUnsupported(
        `layer "${layer.name}": expected one input, got ${ins.length}`,
      );
    }
    return ins[0] as { layer: GraphLayer; value: Value };
  };
  const requireAct = (layer: GraphLayer, v: Value): Extract<Value, { kind: "act" }> => {
    if (v.kind !== "act" || v.pads) {
      throw new TrainingGraphUnsupported(
        `layer "${layer.name}" (${layer.getClassName()}): expected the output of a convolution (an NHWC feature map), got ${v.kind === "image" ? "the model's input" : v.kind === "vec" ? "a flat [batch, features] tensor" : "a ZeroPadding2D output (only a Conv2D may follow one)"}`,
      );
    }
    return v;
  };
  const weightOf = (layer: GraphLayer, suffix: string): GraphVariable | undefined =>
    layer.weights.find(
      (w) => w.name.endsWith(`/${suffix}`) || w.name.split("/").pop()?.startsWith(suffix),
    );
  const feed = (variable: GraphVariable): string => {
    const input = `w${weights.length}`;
    weights.push({ input, variable });
    return input;
  };
  const gradient = (variable: GraphVariable, value: string) => {
    if (!variable.trainable) return;
    const out = `grad${gradients.length}`;
    gradients.push({ output: out, variable });
    output(out, value, [...variable.shape]);
  };
  /** Applies `activation` after `y`; returns the output and the backward mask step. */
  const activation = (
    layer: GraphLayer,
    kind: unknown,
    y: string,
  ): [string, (dy: string) => string] => {
    if (kind === undefined || kind === null || kind === "linear") return [y, (dy) => dy];
    if (kind === "softmax" && layer === outputLayer) {
      throw new TrainingGraphUnsupported(
        `layer "${layer.name}": ends in a softmax; the step's cross-entropy applies the softmax itself, so the model must output logits (give its last layer activation "linear")`,
      );
    }
    if (kind === "gelu") {
      // GELU, the exact erf form (tf.layers' "gelu", PyTorch's nn.GELU()): forward ONNX Runtime's
      // fused com.microsoft.Gelu; gradient dy·(Φ(x) + x·φ(x)) in nine elementwise passes, Φ as
      // HardSigmoid(erf(x/√2)) (0.5·e + 0.5, exact on erf's range) and φ(x) as
      // exp(ln(1/√(2π)) − x²/2).
      const out = op("Gelu", [y], undefined, MS);
      return [
        out,
        (dy) => {
          const t = op("Mul", [y, F(Math.SQRT1_2)]);
          const phi = op("HardSigmoid", [op("Erf", [t])], {
            alpha: { float: 0.5 },
            beta: { float: 0.5 },
          });
          const density = op("Exp", [
            op("Sub", [F(-0.5 * Math.log(2 * Math.PI)), op("Mul", [t, t])]),
          ]);
          return op("Mul", [dy, op("Add", [phi, op("Mul", [y, density])])]);
        },
      ];
    }
    if (kind !== "relu") {
      throw new TrainingGraphUnsupported(
        `layer "${layer.name}": activation "${String(kind)}" is not supported in the training graph (linear, relu or gelu)`,
      );
    }
    const out = op("Relu", [y]);
    // The mask as dy·sign(y) instead measured even (0.997x, narrow net).
    return [out, (dy) => op("Where", [op("Greater", [out, F(0)]), dy, F(0)])];
  };

  for (const layer of all) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig();
    const name = layer.name;
    switch (cls) {
      case "InputLayer": {
        values.set(name, { kind: "image", name: "x", h: H0, w: W0, c: C0 });
        break;
      }
      case "ZeroPadding2D": {
        const { value } = oneInput(layer);
        const p = cfg.padding as number | [number, number] | [[number, number], [number, number]];
        const [[t, b], [l, r]] = Array.isArray(p)
          ? Array.isArray(p[0])
            ? (p as [[number, number], [number, number]])
            : [
                [p[0] as number, p[0] as number],
                [p[1] as number, p[1] as number],
              ]
          : [
              [p, p],
              [p, p],
            ];
        if (value.kind === "vec" || value.pads) {
          throw new TrainingGraphUnsupported(
            `layer "${name}": expected an NHWC feature map, not already padded`,
          );
        }
        values.set(name, { ...value, h: value.h + t + b, w: value.w + l + r, pads: [t, l, b, r] });
        // Its gradient is its input's: the Conv2D after it reads the unpadded map.
        backward.push({ layer: name, run: (dy) => contribute(oneInput(layer).layer.name, dy) });
        break;
      }
      case "Conv2D": {
        const { layer: src, value } = oneInput(layer);
        if (value.kind === "vec") {
          throw new TrainingGraphUnsupported(`layer "${name}": expected an NHWC feature map`);
        }
        if (cfg.dataFormat !== undefined && cfg.dataFormat !== "channelsLast") {
          throw new TrainingGraphUnsupported(`layer "${name}": expected dataFormat channelsLast`);
        }
        const [kh, kw] = pair(cfg.kernelSize, "kernelSize", layer);
        const [sh, sw] = pair(cfg.strides, "strides", layer);
        const [dh, dw] = pair(cfg.dilationRate ?? 1, "dilationRate", layer);
        if (dh !== 1 || dw !== 1) {
          throw new TrainingGraphUnsupported(
            `layer "${name}": dilated convolutions are not supported`,
          );
        }
        const kernel = weightOf(layer, "kernel");
        if (!kernel) throw new TrainingGraphUnsupported(`layer "${name}": no kernel weight`);
        const bias = cfg.useBias ? weightOf(layer, "bias") : undefined;
        // The input before any ZeroPadding2D, and the padding to apply.
        const [pt, pl, pb, pr] = value.pads ?? [0, 0, 0, 0];
        const [h, w] = [value.h - pt - pb, value.w - pl - pr];
        const [ci, co] = [value.c, kernel.shape[3] as number];
        let pads: [number, number, number, number];
        let [oh, ow]: [number, number] = [0, 0];
        if (cfg.padding === "same") {
          const [st, sb] = samePad(value.h, kh, sh);
          const [sl, sr] = samePad(value.w, kw, sw);
          pads = [pt + st, pl + sl, pb + sb, pr + sr];
          [oh, ow] = [Math.ceil(value.h / sh), Math.ceil(value.w / sw)];
        } else if (cfg.padding === "valid") {
          pads = [pt, pl, pb, pr];
          [oh, ow] = [Math.floor((value.h - kh) / sh) + 1, Math.floor((value.w - kw) / sw) + 1];
        } else {
          throw new TrainingGraphUnsupported(
            `layer "${name}": padding "${String(cfg.padding)}" is not supported (same or valid)`,
          );
        }
        const W = feed(kernel);
        const biasIn = bias ? feed(bias) : undefined;
        const convAttrs = { kernel_shape: [kh, kw], strides: [sh, sw], pads };
        /** `each` of the input sampled at every filter tap (row-major), axes `h, h + 1` spatial. */
        const eachTap = (padded: string, h: number, each: (tap: string) => string) => {
          const taps: string[] = [];
          for (let a = 0; a < kh; a++) {
            for (let b = 0; b < kw; b++) {
              const end = [a + (oh - 1) * sh + 1, b + (ow - 1) * sw + 1];
              taps.push(each(op("Slice", [padded, I([a, b]), I(end), I([h, h + 1]), I([sh, sw])])));
            }
          }
          return taps;
        };
        let y: string;
        const fromImage = value.kind === "image";
        const xName = value.name; // the unpadded input (image NHWC, or blocked)
        if (fromImage) {
          // The model's image: NCHW, ONNX's plain Conv (few input channels), then blocked; the
          // output channels padded to whole blocks with zero filters first (ReorderInput takes
          // multiples of 4 channels only).
          const xNchw = op("Transpose", [xName], { perm: [0, 3, 1, 2] });
          const padOut = whole(co) - co;
          const oihw = op("Transpose", [W], { perm: [3, 2, 0, 1] });
          const filter = padOut > 0 ? op("Pad", [oihw, I([0, 0, 0, 0, padOut, 0, 0, 0])]) : oihw;
          const biasP = biasIn && padOut > 0 ? op("Pad", [biasIn, I([0, padOut])]) : biasIn;
          const conv = op("Conv", biasP ? [xNchw, filter, biasP] : [xNchw, filter], convAttrs);
          y = op("ReorderInput", [conv], { channels_last: 0 }, NCHWC);
        } else {
          const wb = blockedFilter(W, kh, kw, ci, co);
          const biasP =
            biasIn && whole(co) !== co ? op("Pad", [biasIn, I([0, whole(co) - co])]) : biasIn;
          y = op("Conv", biasP ? [xName, wb, biasP] : [xName, wb], convAttrs, NCHWC);
        }
        const [out, relu] = activation(layer, cfg.activation, y);
        values.set(name, { kind: "act", name: out, h: oh, w: ow, c: co });
        backward.push({
          layer: name,
          run: (dyIn) => {
            const dy = relu(dyIn);
            const dy5 = view5({ name: dy, h: oh, w: ow, c: co });
            if (bias) {
              gradient(bias, unpadVector(channelSum(dy5, co, oh, ow), co));
            }
            if (!kernel.trainable) {
              // A frozen kernel (fastResNet's whitening stem): no filter gradient to compute.
            } else if (!fromImage && N % B === 0) {
              // Filter gradient as one blocked convolution, the batch's images as its input
              // channels: dW[a, b, i, o] = Σ over images n and pixels (y, x) of
              // xPadded[n, i, y·sh + a, x·sw + b] · dy[n, o, y, x], which is the convolution of
              // the input laid out [ci, N, h, w] (ci as the batch) with dy laid out [co, N, oh, ow]
              // as its filter (kernel oh x ow, dilated by the stride), giving [ci, co, kh, kw]:
              // every tap from one MLAS kernel, summing in registers, with no copy of the input
              // per tap. Against one product per tap (below): whole narrow-net steps 1.22x
              // (1.19-1.32), tiny 1.19x, SmallResNet 1.15x (a scratch A/B alternating in one
              // process, docs/performance.md); the kernel-by-kernel graph of the same idea is
              // conv2d-backprop-filter.ts's blocked plan (`bench:filter-grad`).
              // The input's channels are the convolution's batch, which needs no whole blocks:
              // its padding channels are left out (fastResNet's 24-channel layers: 24, not 32).
              const cout = whole(co);
              // G of the input's channels interleaved along the width ([ci/G, N, h, w·G], the
              // convolution's batch ci/G): each output row is kw·G wide instead of kw, and MLAS's
              // kernel reuses each filter value across it (filterGradInterleave; 1.15-1.5x on
              // the filter gradients alone, `bench:filter-grad`); dilated by G along the width.
              const G = filterGradInterleave(ci);
              // The input: blocked -> NHWC -> [ci/G, N, h, w·G] -> blocked over the images, then
              // padded (or cropped) to exactly the rows and columns the taps read.
              const xNhwc = op("ReorderOutput", [xName], { channels: ci, channels_last: 1 }, NCHWC);
              const xT = op("Reshape", [
                op("Transpose", [op("Reshape", [xNhwc, I([N, h, w, ci / G, G])])], {
                  perm: [3, 0, 1, 2, 4],
                }),
                I([ci / G, N, h, w * G]),
              ]);
              const xTb = op("ReorderInput", [xT], { channels_last: 0 }, NCHWC);
              const [eh, ew] = [(oh - 1) * sh + kh, (ow - 1) * sw + kw];
              const [bottom, right] = [eh - h - pads[0], ew - w - pads[1]];
              const xP =
                pads[0] === 0 && pads[1] === 0 && bottom === 0 && right === 0
                  ? xTb
                  : op("Reshape", [
                      // ONNX's Pad crops where a pad is negative.
                      op("Pad", [
                        op("Reshape", [xTb, I([ci / G, N / B, h, w * G, B])]),
                        I([0, 0, pads[0], pads[1] * G, 0, 0, 0, bottom, right * G, 0]),
                      ]),
                      I([ci / G, N, eh, ew * G]),
                    ]);
              // dy as the filter: [N, co/B, oh, ow, B] -> MLAS's [co/B, N/B, oh, ow, B(N), B(co)].
              const f = op("Reshape", [
                op("Transpose", [op("Reshape", [dy, I([N / B, B, cout / B, oh, ow, B])])], {
                  perm: [2, 0, 3, 4, 1, 5],
                }),
                I([cout, N, oh, ow]),
              ]);
              const dw = op(
                "Conv",
                [xP, f],
                { kernel_shape: [oh, ow], dilations: [sh, sw * G] },
                NCHWC,
              );
              // [ci/G, co/B, kh, kw, G, B] -> HWIO, the padding channels dropped.
              const hwio = op("Reshape", [
                op("Transpose", [op("Reshape", [dw, I([ci / G, cout / B, kh, kw, G, B])])], {
                  perm: [2, 3, 0, 4, 1, 5],
                }),
                I([kh, kw, ci, cout]),
              ]);
              gradient(
                kernel,
                cout === co ? hwio : op("Slice", [hwio, I([0, 0]), I([ci, co]), I([2, 3])]),
              );
            } else {
              // Filter gradient per tap: the image's (3 channels, NHWC already), and any input
              // where the batch does not fill whole blocks of images. Pixel-major: the input and
              // dy as NHWC (the blocked activations through MLAS's reorders), per tap one batched
              // product [G, (N/G)·HW, ci]ᵀ x [G, (N/G)·HW, co], summed over the G groups of
              // images. Against products per image and block pair on the blocked layout (no
              // reorders): SmallResNet steps 1.19x (1.02-1.27), the narrow net's 1.04x.
              const G = [8, 4, 2, 1].find((g) => N % g === 0) as number;
              const cin = fromImage ? ci : whole(ci);
              const xN = fromImage
                ? xName
                : op("ReorderOutput", [xName], { channels: cin, channels_last: 1 }, NCHWC);
              const xP = pads.some((p) => p > 0)
                ? op("Pad", [xN, I([0, pads[0], pads[1], 0, 0, pads[2], pads[3], 0])])
                : xN;
              const dyN = op(
                "ReorderOutput",
                [dy],
                { channels: whole(co), channels_last: 1 },
                NCHWC,
              );
              const rows = (N / G) * oh * ow;
              const dyG = op("Reshape", [dyN, I([G, rows, whole(co)])]);
              const taps = eachTap(xP, 1, (t) =>
                op("FusedMatMul", [op("Reshape", [t, I([G, rows, cin])]), dyG], { transA: 1 }, MS),
              );
              const stacked =
                taps.length > 1 ? op("Concat", taps, { axis: 0 }) : (taps[0] as string);
              const summed = op(
                "ReduceSum",
                [op("Reshape", [stacked, I([kh * kw, G, cin, whole(co)])]), I([1])],
                { keepdims: 0 },
              );
              const hwio = op("Reshape", [summed, I([kh, kw, cin, whole(co)])]);
              gradient(
                kernel,
                cin === ci && whole(co) === co
                  ? hwio
                  : op("Slice", [hwio, I([0, 0]), I([ci, co]), I([2, 3])]),
              );
            }
            if (fromImage) return; // the image needs no gradient
            // Input gradient, blocked, over the padded input's [h, w] (pads dropped below).
            let dx: string;
            if (
              sh === 1 &&
              sw === 1 &&
              pads[0] < kh &&
              pads[2] < kh &&
              pads[1] < kw &&
              pads[3] < kw
            ) {
              const flipped = op(
                "Transpose",
                [
                  op("Slice", [
                    W,
                    I([-1, -1]),
                    I([-(2 ** 53), -(2 ** 53)]),
                    I([0, 1]),
                    I([-1, -1]),
                  ]),
                ],
                { perm: [0, 1, 3, 2] },
              );
              dx = op(
                "Conv",
                [dy, blockedFilter(flipped, kh, kw, co, ci)],
                {
                  kernel_shape: [kh, kw],
                  pads: [kh - 1 - pads[0], kw - 1 - pads[1], kh - 1 - pads[2], kw - 1 - pads[3]],
                },
                NCHWC,
              );
            } else {
              const dyN = op(
                "ReorderOutput",
                [dy],
                { channels: whole(co), channels_last: 0 },
                NCHWC,
              );
              const oihw = op(
                "Transpose",
                [
                  whole(ci) === ci && whole(co) === co
                    ? W
                    : op("Pad", [W, I([0, 0, 0, 0, 0, 0, whole(ci) - ci, whole(co) - co])]),
                ],
                { perm: [3, 2, 0, 1] },
              );
              // ConvTranspose's output is sh·(oh − 1) + kh − pads + output_padding: make it h.
              const outPad = [
                h - ((oh - 1) * sh + kh - pads[0] - pads[2]),
                w - ((ow - 1) * sw + kw - pads[1] - pads[3]),
              ];
              const t = op("ConvTranspose", [dyN, oihw], {
                kernel_shape: [kh, kw],
                strides: [sh, sw],
                pads,
                output_padding: outPad,
              });
              dx = op("ReorderInput", [t], { channels_last: 0 }, NCHWC);
            }
            contribute(src.name, dx);
          },
        });
        break;
      }
      case "BatchNormalization": {
        const { layer: src, value } = oneInput(layer);
        const v = requireAct(layer, value);
        const axis = cfg.axis as number | undefined;
        if (axis !== undefined && axis !== -1 && axis !== 3) {
          throw new TrainingGraphUnsupported(
            `layer "${name}": expected axis -1 (channels last), got ${axis}`,
          );
        }
        const eps = cfg.epsilon as number;
        const c = v.c;
        const M = N * v.h * v.w;
        const gammaVar = cfg.scale === false ? undefined : weightOf(layer, "gamma");
        const betaVar = cfg.center === false ? undefined : weightOf(layer, "beta");
        const ones = Array.from({ length: whole(c) }, (_, i) => (i < c ? 1 : 0));
        const g = gammaVar
          ? channelVector(feed(gammaVar), c)
          : op("Reshape", [Fv(ones), I([1, whole(c) / B, 1, 1, B])]);
        const x5 = view5(v);
        const E = (vec: string) => perImage(vec, c, v.h, v.w);
        const mean = op("Mul", [channelSum(x5, c, v.h, v.w), F(1 / M)]);
        const xc = op("Sub", [x5, E(mean)]);
        // var = Σ(x − μ)²/M (two passes, as tfjs's moments); then the per-channel affine map
        // (x − μ)·γ/σ + β as a 1x1 depthwise blocked convolution: one pass where a Mul and an Add
        // over the 5-D view took two (whole narrow-net steps 1.035x, tiny 1.05x, 20 alternating
        // runs each; the backward's a·dy + c0 + b·(x − μ) likewise, the last term as the
        // convolution's Sum input).
        const variance = op("Mul", [channelSum(xc, c, v.h, v.w, "ReduceSumSquare"), F(1 / M)]);
        const rstd = op("Reciprocal", [op("Sqrt", [op("Add", [variance, F(eps)])])]);
        const scale = op("Mul", [g, rstd]);
        const betaIn = betaVar ? feed(betaVar) : undefined;
        const affine = (input: string, a: string, bias?: string, sum?: string) =>
          op(
            "Conv",
            [
              view4(input, c, v.h, v.w),
              op("Reshape", [a, I([whole(c), 1, 1, 1])]),
              ...(bias || sum ? [bias ?? ""] : []),
              ...(sum ? [sum] : []),
            ],
            { kernel_shape: [1, 1], group: whole(c) },
            NCHWC,
          );
        const y = affine(
          xc,
          scale,
          betaIn && whole(c) !== c ? op("Pad", [betaIn, I([0, whole(c) - c])]) : betaIn,
        );
        const index = stats.length;
        const meanOut = `bn${index}_mean`;
        const varOut = `bn${index}_variance`;
        output(meanOut, unpadVector(mean, c), [c]);
        output(varOut, unpadVector(variance, c), [c]);
        stats.push({
          layer,
          meanOutput: meanOut,
          varianceOutput: varOut,
          count: M,
          movingMean: weightOf(layer, "moving_mean"),
          movingVariance: weightOf(layer, "moving_variance"),
        });
        values.set(name, { kind: "act", name: y, h: v.h, w: v.w, c });
        backward.push({
          layer: name,
          run: (dyIn) => {
            const dy = view5({ name: dyIn, h: v.h, w: v.w, c });
            const dbeta = channelSum(dy, c, v.h, v.w);
            const dxc = channelSum(op("Mul", [dy, xc]), c, v.h, v.w);
            if (betaVar) gradient(betaVar, unpadVector(dbeta, c));
            if (gammaVar) gradient(gammaVar, unpadVector(op("Mul", [dxc, rstd]), c));
            // dx = a·dy + b·(x − μ) + c0, with a = γ/σ, b = −a·dxc/(σ²M), c0 = −a·dβ/M.
            const cA = scale;
            const cB = op("Mul", [
              op("Mul", [op("Mul", [cA, rstd]), op("Mul", [rstd, dxc])]),
              F(-1 / M),
            ]);
            const c0 = op("Mul", [op("Mul", [cA, dbeta]), F(-1 / M)]);
            const sum = view4(op("Mul", [xc, E(cB)]), c, v.h, v.w);
            contribute(src.name, affine(dy, cA, op("Reshape", [c0, I([whole(c)])]), sum));
          },
        });
        break;
      }
      case "ReLU":
      case "Activation": {
        const { layer: src, value } = oneInput(layer);
        const kind = cls === "ReLU" ? "relu" : cfg.activation;
        if (
          cls === "ReLU" &&
          (cfg.maxValue != null || (cfg.negativeSlope ?? 0) !== 0 || (cfg.threshold ?? 0) !== 0)
        ) {
          throw new TrainingGraphUnsupported(
            `layer "${name}": ReLU with maxValue, negativeSlope or threshold is not supported`,
          );
        }
        if (value.kind === "image" || ("pads" in value && value.pads)) {
          throw new TrainingGraphUnsupported(
            `layer "${name}": expected a layer's output, not the model input`,
          );
        }
        const [out, mask] = activation(layer, kind, value.name);
        values.set(name, { ...value, name: out });
        backward.push({ layer: name, run: (dy) => contribute(src.name, mask(dy)) });
        break;
      }
      case "Add": {
        const ins = inputsOf(layer);
        if (ins.length < 2)
          throw new TrainingGraphUnsupported(`layer "${name}": expected two or more inputs`);
        const first = ins[0]?.value as Value;
        for (const { value } of ins) {
          if (
            value.kind === "image" ||
            ("pads" in value && value.pads) ||
            value.kind !== first.kind
          ) {
            throw new TrainingGraphUnsupported(
              `layer "${name}": expected inputs of one kind (feature maps or flat tensors)`,
            );
          }
        }
        let sum = (ins[0] as { value: Value }).value.name;
        for (const { value } of ins.slice(1)) sum = op("Add", [sum, value.name]);
        values.set(name, { ...first, name: sum });
        backward.push({
          layer: name,
          run: (dy) => {
            for (const { layer: s } of ins) contribute(s.name, dy);
          },
        });
        break;
      }
      case "GlobalAveragePooling2D": {
        const { layer: src, value } = oneInput(layer);
        const v = requireAct(layer, value);
        if (cfg.dataFormat !== undefined && cfg.dataFormat !== "channelsLast") {
          throw new TrainingGraphUnsupported(`layer "${name}": expected dataFormat channelsLast`);
        }
        const pooled = op("ReduceMean", [view5(v)], { axes: [2, 3], keepdims: 1 });
        const flat = op("Reshape", [pooled, I([N, whole(v.c)])]);
        const out = whole(v.c) === v.c ? flat : op("Slice", [flat, I([0]), I([v.c]), I([1])]);
        values.set(name, { kind: "vec", name: out, f: v.c });
        backward.push({
          layer: name,
          run: (dy) => {
            const padded =
              whole(v.c) === v.c ? dy : op("Pad", [dy, I([0, 0, 0, whole(v.c) - v.c])]);
            const d5 = op("Reshape", [padded, I([N, whole(v.c) / B, 1, 1, B])]);
            const spread = op("Expand", [d5, I([N, whole(v.c) / B, v.h, v.w, B])]);
            contribute(src.name, view4(op("Mul", [spread, F(1 / (v.h * v.w))]), v.c, v.h, v.w));
          },
        });
        break;
      }
      case "MaxPooling2D": {
        const { layer: src, value } = oneInput(layer);
        const v = requireAct(layer, value);
        if (cfg.dataFormat !== undefined && cfg.dataFormat !== "channelsLast") {
          throw new TrainingGraphUnsupported(`layer "${name}": expected dataFormat channelsLast`);
        }
        if (cfg.padding !== undefined && cfg.padding !== "valid") {
          throw new TrainingGraphUnsupported(
            `layer "${name}": padding "${String(cfg.padding)}" is not supported (valid)`,
          );
        }
        const [kh, kw] = pair(cfg.poolSize, "poolSize", layer);
        const [sh, sw] = pair(cfg.strides ?? cfg.poolSize, "strides", layer);
        const [oh, ow] = [Math.floor((v.h - kh) / sh) + 1, Math.floor((v.w - kw) / sw) + 1];
        if (oh < 1 || ow < 1) {
          throw new TrainingGraphUnsupported(`layer "${name}": the pool is larger than its input`);
        }
        const c = whole(v.c);
        // ONNX's MaxPool in NCHW with the argmax of each window (the first largest, as tfjs's
        // gradient takes it: a sum of dy over tied maxima would differ), and MaxUnpool, which
        // puts each dy at its argmax, for the gradient; the blocked activation goes to NCHW and
        // back around both.
        const xN = op("ReorderOutput", [v.name], { channels: c, channels_last: 0 }, NCHWC);
        const poolNode = fresh("MaxPool");
        const indices = `${poolNode}_argmax`;
        nodes.push({
          op: "MaxPool",
          inputs: [xN],
          outputs: [poolNode, indices],
          attributes: { kernel_shape: [kh, kw], strides: [sh, sw] },
        });
        if (oh === 1 && ow === 1) {
          // Down to one pixel (fastResNet's last pool): a flat [N, C] tensor.
          const flat = op("Reshape", [poolNode, I([N, c])]);
          const out = c === v.c ? flat : op("Slice", [flat, I([0]), I([v.c]), I([1])]);
          values.set(name, { kind: "vec", name: out, f: v.c });
        } else {
          const y = op("ReorderInput", [poolNode], { channels_last: 0 }, NCHWC);
          values.set(name, { kind: "act", name: y, h: oh, w: ow, c: v.c });
        }
        backward.push({
          layer: name,
          run: (dyIn) => {
            let dyN: string;
            if (oh === 1 && ow === 1) {
              const padded = c === v.c ? dyIn : op("Pad", [dyIn, I([0, 0, 0, c - v.c])]);
              dyN = op("Reshape", [padded, I([N, c, 1, 1])]);
            } else {
              dyN = op("ReorderOutput", [dyIn], { channels: c, channels_last: 0 }, NCHWC);
            }
            const dx = op("MaxUnpool", [dyN, indices, I([N, c, v.h, v.w])], {
              kernel_shape: [kh, kw],
              strides: [sh, sw],
            });
            contribute(src.name, op("ReorderInput", [dx], { channels_last: 0 }, NCHWC));
          },
        });
        break;
      }
      case "Rescaling": {
        const { layer: src, value } = oneInput(layer);
        if (value.kind !== "vec") {
          throw new TrainingGraphUnsupported(
            `layer "${name}": Rescaling is supported on a flat [batch, features] tensor (the logits)`,
          );
        }
        const scale = Number(cfg.scale ?? 1);
        const offset = Number(cfg.offset ?? 0);
        const scaled = op("Mul", [value.name, F(scale)]);
        const out = offset === 0 ? scaled : op("Add", [scaled, F(offset)]);
        values.set(name, { ...value, name: out });
        backward.push({
          layer: name,
          run: (dy) => contribute(src.name, op("Mul", [dy, F(scale)])),
        });
        break;
      }
      case "Flatten": {
        const { layer: src, value } = oneInput(layer);
        if (value.kind !== "vec") {
          throw new TrainingGraphUnsupported(
            `layer "${name}": Flatten is supported after a pooling to one pixel only (global, or a pool as large as the map)`,
          );
        }
        values.set(name, value);
        backward.push({ layer: name, run: (dy) => contribute(src.name, dy) });
        break;
      }
      case "Dropout": {
        const { layer: src, value } = oneInput(layer);
        if ((cfg.rate as number) > 0) {
          throw new TrainingGraphUnsupported(
            `layer "${name}": Dropout with rate ${String(cfg.rate)} is not supported (its random masks)`,
          );
        }
        values.set(name, value);
        backward.push({ layer: name, run: (dy) => contribute(src.name, dy) });
        break;
      }
      case "Dense": {
        const { layer: src, value } = oneInput(layer);
        if (value.kind !== "vec") {
          throw new TrainingGraphUnsupported(
            `layer "${name}": expected a flat [batch, features] input (after global pooling)`,
          );
        }
        const kernel = weightOf(layer, "kernel");
        if (!kernel) throw new TrainingGraphUnsupported(`layer "${name}": no kernel weight`);
        const bias = cfg.useBias === false ? undefined : weightOf(layer, "bias");
        const units = kernel.shape[1] as number;
        const K = feed(kernel);
        const b = bias ? feed(bias) : undefined;
        const y = op("Gemm", b ? [value.name, K, b] : [value.name, K]);
        const [out, mask] = activation(layer, cfg.activation, y);
        values.set(name, { kind: "vec", name: out, f: units });
        backward.push({
          layer: name,
          run: (dyIn) => {
            const dy = mask(dyIn);
            gradient(kernel, op("Gemm", [value.name, dy], { transA: 1 }));
            if (bias) gradient(bias, op("ReduceSum", [dy, I([0])], { keepdims: 0 }));
            contribute(src.name, op("Gemm", [dy, K], { transB: 1 }));
          },
        });
        break;
      }
      default:
        throw new TrainingGraphUnsupported(
          `layer "${name}" (${cls}) is not supported in the ONNX Runtime training graph (supported: ${TRAINING_GRAPH_LAYERS.join(", ")})`,
        );
    }
  }

  const logits = values.get(outputLayer.name);
  if (logits?.kind !== "vec") {
    throw new TrainingGraphUnsupported(
      `model "${model.name}": expected its output to be logits, [batch, classes], from a Dense layer`,
    );
  }
  const classes = logits.f;
  // Softmax cross-entropy against `targets` (rows summing to 1: one-hot, or label-smoothed),
  // averaged over the batch; its gradient (softmax − targets)/N.
  const lse = op("ReduceLogSumExp", [logits.name], { axes: [1], keepdims: 0 });
  const picked = op("ReduceSum", [op("Mul", [logits.name, "targets"]), I([1])], { keepdims: 0 });
  const loss = op("ReduceMean", [op("Sub", [lse, picked])], { keepdims: 1 });
  output("loss", loss, [1]);
  // Images whose largest logit is their target's largest (the batch accuracy's numerator).
  const argmax = (t: string) => op("ArgMax", [t], { axis: 1, keepdims: 0 });
  const hits = op("Cast", [op("Equal", [argmax(logits.name), argmax("targets")])], { to: 1 });
  output("correct", op("ReduceSum", [hits, I([0])], { keepdims: 1 }), [1]);
  contribute(
    outputLayer.name,
    op("Mul", [op("Sub", [op("Softmax", [logits.name], { axis: 1 }), "targets"]), F(1 / N)]),
  );
  for (const step of [...backward].reverse()) {
    const parts = contributions.get(step.layer);
    if (!parts || parts.length === 0) continue; // nothing downstream needs it
    let dy = parts[0] as string;
    for (const p of parts.slice(1)) dy = op("Add", [dy, p]);
    step.run(dy);
  }

  return {
    graph: {
      nodes,
      inputs: [
        { name: "x", shape: [N, H0, W0, C0] },
        { name: "targets", shape: [N, classes] },
        ...weights.map((w) => ({ name: w.input, shape: [...w.variable.shape] })),
      ],
      outputs,
      int64Constants: ints,
      floatConstants: floats,
    },
    inputShape: [N, H0, W0, C0],
    classes,
    weights,
    gradients,
    batchStatistics: stats,
  };
}
