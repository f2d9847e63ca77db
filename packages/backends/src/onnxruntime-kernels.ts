// Convolutions on ONNX Runtime's CPU kernels, for the wasm and cpu backends.
//
// Why: convolutions are ~80% of a training step on wasm, and tfjs-wasm's are bound by 128-bit
// WebAssembly SIMD without FMA (XNNPACK). `onnxruntime-node` ships a native CPU build (MLAS: AVX2/AVX-512 FMA
// GEMMs, its own thread pool) in its npm package, so, where it is installed, the four
// convolution kernels of a training step (Conv2D, FusedConv2D, Conv2DBackpropInput,
// Conv2DBackpropFilter) run there: each call runs a tiny cached ONNX graph directly on the
// tensors' memory (wasm heap or cpu arrays), writing its result straight into the tfjs output.
// The rest of the step (BatchNorm, ReLU, adds, the optimizer) stays on the tfjs backend.
//
// tfjs kernels are synchronous, and the public `InferenceSession.run` returns a promise. It only
// defers (setImmediate) a call to the native session's synchronous `run`; this module calls
// that native binding (`onnxruntime-node/dist/binding.js`) directly, so it checks the binding's
// shape when loading and names the version it was built against (1.30) if it differs.
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import {
  backend_util,
  getKernel,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  registerKernel,
  type TensorInfo,
  unregisterKernel,
} from "@tensorflow/tfjs-core";
import { BackendError } from "./errors.js";
import { type KernelBackendName, type KernelOps, kernelOps } from "./kernel-ops.js";
import {
  encodeOnnxModel,
  type OnnxAttribute,
  type OnnxGraph,
  type OnnxNode,
  type OnnxValue,
} from "./onnx-model.js";

/** The kernels this module replaces, on each of the `cpu` and `wasm` backends. */
export const ONNXRUNTIME_KERNELS = [
  "Conv2D",
  "FusedConv2D",
  "Conv2DBackpropInput",
  "Conv2DBackpropFilter",
] as const;

/** The part of `onnxruntime-node` this module uses. */
export interface OnnxRuntimeModule {
  readonly version: string;
  /** `ort.Tensor`: wraps a Float32Array (no copy) with its dims. */
  readonly Tensor: new (
    type: "float32",
    data: Float32Array,
    dims: readonly number[],
  ) => unknown;
  /** A new native session (`binding.InferenceSession`), synchronous `loadModel` and `run`. */
  createSession(): NativeSession;
}

export interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, unknown>, options: object): unknown;
  dispose?(): void;
}

export interface OnnxRuntimeKernelsOptions {
  /** ONNX Runtime's intra-op threads. Defaults to `os.availableParallelism()`. */
  threads?: number;
  /**
   * On wasm, the forward and input-gradient convolutions go to ONNX Runtime only when the filter
   * is larger than 1x1 and both channel counts are at least this; smaller ones stay on wasm,
   * which is as fast for them (strided 1x1: faster; `pnpm bench:kernels`). The filter gradient,
   * and every convolution on cpu, always go. Default 32.
   */
  minChannels?: number;
  /** Loads `onnxruntime-node`; replaceable for tests and bundlers. */
  load?: () => OnnxRuntimeModule;
}

/** What `registerOnnxRuntimeKernels()` did. */
export interface OnnxRuntimeKernelsReport {
  /** The `onnxruntime-node` version now running the convolutions. */
  readonly version: string;
  readonly threads: number;
  /** `"KernelName@backend"` for each kernel now on ONNX Runtime. */
  readonly kernels: readonly string[];
}

const BACKENDS: readonly KernelBackendName[] = ["cpu", "wasm"];
const MARK = Symbol.for("@cnnkit/backends/onnxruntime-kernel");
const originals = new Map<string, KernelConfig | undefined>();
let active: {
  ort: OnnxRuntimeModule;
  threads: number;
  minChannels: number;
  /** MLAS's NCHWc block (8 with AVX2, 16 with AVX-512F); 0 where the blocked kernels are absent. */
  blockSize: number;
  sessions: Map<string, Compiled>;
} | null = null;

/** A session, and the dims its graph declares for each input and output (to feed it with). */
interface Compiled {
  session: NativeSession;
  dims: Map<string, readonly number[]>;
}

/**
 * Whether a forward or input-gradient convolution should run on ONNX Runtime: always on cpu; on
 * wasm only for filters larger than 1x1 with at least `minChannels` channels each way. Smaller
 * ones are about as fast on XNNPACK-wasm (`bench:kernels`: either wins by a few tenths of a ms
 * per shape, and whole training steps of the tiny and narrow nets measured the same with
 * minChannels 8, 16 and 32); strided 1x1 convolutions are 2-3x faster there.
 */
function worthIt(backendName: KernelBackendName, info: backend_util.Conv2DInfo): boolean {
  if (backendName === "cpu") return true;
  const min = active?.minChannels ?? 32;
  return (
    info.filterHeight * info.filterWidth > 1 && Math.min(info.inChannels, info.outChannels) >= min
  );
}

/** Whether a convolution from `cin` to `cout` channels can run in the NCHWc layout. */
function blockable(cin: number, cout: number): boolean {
  const b = active?.blockSize ?? 0;
  return b > 1 && cin % b === 0 && cout % b === 0;
}

/** True for a kernel registered by this module (so other registrars leave it in place). */
export function isOnnxRuntimeKernel(config: KernelConfig | undefined): boolean {
  return config != null && (config as unknown as Record<symbol, unknown>)[MARK] === true;
}

/** Loads `onnxruntime-node` and its native binding, or throws one line saying why not. */
export function loadOnnxRuntime(): OnnxRuntimeModule {
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve("onnxruntime-node");
  } catch {
    throw new BackendError("onnxruntime_unavailable", "onnxruntime-node: not installed");
  }
  let ort: { Tensor?: OnnxRuntimeModule["Tensor"] };
  let binding: { binding?: { InferenceSession?: new () => NativeSession }; initOrt?: () => void };
  let version = "unknown";
  try {
    ort = require(main);
    binding = require(path.join(path.dirname(main), "binding.js"));
    version = (require(path.join(path.dirname(main), "..", "package.json")) as { version: string })
      .version;
  } catch (err) {
    const line = (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
    throw new BackendError("onnxruntime_unavailable", `onnxruntime-node: ${line.slice(0, 300)}`);
  }
  const Session = binding.binding?.InferenceSession;
  if (ort.Tensor == null || Session == null || typeof Session.prototype.run !== "function") {
    throw new BackendError(
      "onnxruntime_unavailable",
      `onnxruntime-node ${version}: its native binding lacks the synchronous session this package uses (built against 1.30)`,
    );
  }
  binding.initOrt?.();
  const Tensor = ort.Tensor;
  return { version, Tensor, createSession: () => new Session() };
}

// ---------------------------------------------------------------------------------------------
// The graphs. tfjs tensors are NHWC with HWIO filters; ONNX's Conv is NCHW with OIHW filters.
// Where the channels come in whole blocks, the graphs use ORT's blocked layout, which reads and
// writes NHWC itself (`blockedConv`); elsewhere they transpose at their edges.

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];
const HWIO_TO_OIHW = [3, 2, 0, 1];

interface Geometry {
  info: backend_util.Conv2DInfo;
  /** ONNX pads: [top, left, bottom, right]. */
  pads: number[];
}

function geometry(
  inShape: readonly number[],
  filterShape: readonly number[],
  attrs: NamedAttrMap,
  dilations: number | [number, number] = 1,
): Geometry | null {
  if (attrs.dataFormat === "NCHW") return null;
  const info = backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    dilations,
    attrs.pad as "same" | "valid" | number | backend_util.ExplicitPadding,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    false,
    "channelsLast",
  );
  const p = info.padInfo;
  if (p.top < 0 || p.left < 0 || p.bottom < 0 || p.right < 0) return null;
  // ONNX derives the output size from the pads; tfjs does not always agree (a numeric `pad` with
  // a non-square filter or stride sizes both axes from the height's): leave those to tfjs.
  const natural = (size: number, before: number, after: number, k: number, d: number, s: number) =>
    Math.floor((size + before + after - ((k - 1) * d + 1)) / s) + 1;
  if (
    natural(
      info.inHeight,
      p.top,
      p.bottom,
      info.filterHeight,
      info.dilationHeight,
      info.strideHeight,
    ) !== info.outHeight ||
    natural(
      info.inWidth,
      p.left,
      p.right,
      info.filterWidth,
      info.dilationWidth,
      info.strideWidth,
    ) !== info.outWidth
  ) {
    return null;
  }
  return { info, pads: [p.top, p.left, p.bottom, p.right] };
}

const NCHWC = "com.microsoft.nchwc";

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
  const b = (active as { blockSize: number }).blockSize;
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
function blockedConv(
  input: string,
  filterHwio: string,
  filterShape: readonly number[],
  output: string,
  convAttributes: Record<string, OnnxAttribute>,
  constants: Record<string, number[]>,
  io: { inShape: readonly number[]; outShape: readonly number[] },
  bias?: string,
): { nodes: OnnxNode[]; inDims: number[]; outDims: number[] } {
  const b = (active as { blockSize: number }).blockSize;
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

function forwardGraph(g: Geometry, bias: boolean, relu: boolean): OnnxGraph {
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

/**
 * dX. Stride 1: the 'full' convolution of dy with the filter rotated 180° and its channels
 * swapped (one forward Conv, padding k-1-pad). Strides > 1: ConvTranspose with the forward
 * pads, and output_padding for rows the forward conv never reached. `null` when neither fits.
 */
function inputGradGraph(g: Geometry): OnnxGraph | null {
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

/**
 * dW, one GEMM per filter tap: dW[a,b] (ci x co) = X_ab^T · dY, where X_ab (M x ci, M = batch
 * × output pixels) is the padded input sampled at tap (a,b) with the stride, and dY is M x co.
 * Concatenated over the taps in row-major (a,b) order that is the HWIO filter. Measured against
 * the alternative single Conv (batch and channels swapped, dilation = stride): 1.2-2.5x faster.
 *
 * Three ways to sample the taps, chosen by measurement (`bench:kernels`, and an interleaved A/B
 * of the filter gradient alone on every ResNet shape):
 * - per image: transpose the padded input once to NCHW; each tap is a slice that reshapes to
 *   [N, ci, HW], and one batched MatMul with dY as [N, HW, co] gives [N, ci, co], summed over N
 *   once for all taps. MLAS splits a plain GEMM between threads only along its M x N output
 *   (ci x co: 8x8 on the tiny net, one thread's work), a batched one also across images. For
 *   stride 1 on outputs of 32x32 and more: 1.2-1.3x faster than channel-major (8->8 to 64->64),
 *   0.5-0.9x on smaller outputs, where the N·ci·co partial sums outweigh the work;
 * - channel-major: transpose the padded input once to [ci, N, H, W]; each tap is then a slice
 *   that reshapes to X_ab^T (ci x M) directly, and a plain MatMul. 1.1-1.4x faster than
 *   pixel-major for stride 1 on outputs of 16x16;
 * - pixel-major: slice the NHWC input (with the stride) to X_ab (M x ci) and let Gemm transpose
 *   it (transA). Faster for strides > 1 and small outputs (the strided slice of the
 *   channel-major copy gathers single floats; on 8x8 outputs the transpose does not pay off).
 */
function filterGradGraph(g: Geometry): OnnxGraph {
  const i = g.info;
  const [kh, kw, sh, sw] = [i.filterHeight, i.filterWidth, i.strideHeight, i.strideWidth];
  const { top, left, bottom, right } = i.padInfo;
  const [n, hw, ci, co] = [i.batchSize, i.outHeight * i.outWidth, i.inChannels, i.outChannels];
  const padded = top + left + bottom + right > 0;
  const stride1 = sh === 1 && sw === 1 && kh * kw > 1;
  const mode =
    stride1 && hw >= 1024 ? "per-image" : stride1 && hw >= 256 ? "channel-major" : "pixel-major";
  const dy = mode === "per-image" ? [n, hw, co] : [n * hw, co];
  const nodes: OnnxNode[] = [{ op: "Reshape", inputs: ["dy", "dyShape"], outputs: ["dy2"] }];
  const constants: Record<string, number[]> = {
    dyShape: dy,
    tapShape: {
      "per-image": [n, ci, hw],
      "channel-major": [ci, n * hw],
      "pixel-major": [n * hw, ci],
    }[mode],
    hw: mode === "pixel-major" ? [1, 2] : [2, 3],
    strides: [sh, sw],
    filterShape: [kh, kw, ci, co],
  };
  let source = "x";
  if (padded) {
    nodes.push({ op: "Pad", inputs: ["x", "pads"], outputs: ["xp"] });
    constants.pads = [0, top, left, 0, 0, bottom, right, 0];
    source = "xp";
  }
  if (mode !== "pixel-major") {
    const perm = mode === "per-image" ? [0, 3, 1, 2] : [3, 0, 1, 2];
    nodes.push({ op: "Transpose", inputs: [source], outputs: ["xt"], attributes: { perm } });
    source = "xt";
  }
  if (mode === "per-image") constants.tapOut = [1, n, ci, co];
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
      if (mode === "pixel-major") {
        nodes.push({
          op: "Gemm",
          inputs: [`${t}_m`, "dy2"],
          outputs: [t],
          attributes: { transA: 1 },
        });
      } else if (mode === "channel-major") {
        nodes.push({ op: "MatMul", inputs: [`${t}_m`, "dy2"], outputs: [t] });
      } else {
        // [N, ci, co] per tap, as [1, N, ci, co] so that the taps stack on axis 0.
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
  if (mode === "per-image") {
    constants.images = [1];
    nodes.push({
      op: "ReduceSum",
      inputs: [last, "images"],
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

// ---------------------------------------------------------------------------------------------
// Running a graph on tfjs tensors.

/** Sessions kept per distinct graph; a ResNet has a few dozen (shapes × 3 kernels). */
const MAX_SESSIONS = 256;

function session(key: string, build: () => OnnxGraph): Compiled {
  if (active == null)
    throw new BackendError("onnxruntime_unavailable", "onnxruntime kernels are not registered");
  const cached = active.sessions.get(key);
  if (cached) return cached;
  const graph = build();
  const bytes = encodeOnnxModel(graph);
  const s = active.ort.createSession();
  s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
    intraOpNumThreads: active.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    // No per-session arena: dozens of sessions each keeping its peak (SmallResNet: 2.4 GB RSS
    // with arenas, 1.9 GB without, 1.8 GB on wasm alone; no slower).
    enableCpuMemArena: false,
    logSeverityLevel: 3, // errors only: no warnings about these generated graphs on the console
    // Each session has its own pool: idle threads must sleep, not spin against the next kernel's
    // (measured: the narrow net trains at 150-160 img/s so, 80 with spinning on).
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
  if (active.sessions.size >= MAX_SESSIONS) {
    const [oldest] = active.sessions.keys();
    if (oldest !== undefined) {
      active.sessions.get(oldest)?.session.dispose?.();
      active.sessions.delete(oldest);
    }
  }
  const dims = new Map<string, readonly number[]>();
  for (const v of [...graph.inputs, ...graph.outputs]) if (v.shape) dims.set(v.name, v.shape);
  const compiled = { session: s, dims };
  active.sessions.set(key, compiled);
  return compiled;
}

/**
 * ONNX Runtime reads and writes only unshared memory. Single-threaded wasm and cpu tensors are
 * passed as they are (no copy); multi-threaded wasm keeps its heap in a SharedArrayBuffer, so
 * its tensors are copied through these buffers (a memcpy: ~3% of a convolution's time).
 */
let scratch: Float32Array[] = [];

function unshared(values: Float32Array, slot: number): Float32Array {
  if (!(values.buffer instanceof SharedArrayBuffer)) return values;
  let buf = scratch[slot];
  if (buf == null || buf.length < values.length) {
    buf = new Float32Array(values.length);
    scratch[slot] = buf;
  }
  const copy = buf.subarray(0, values.length);
  copy.set(values);
  return copy;
}

/** Runs graph `key` on float32 `inputs`, writing its one output into a new tfjs tensor. */
function runGraph(
  ops: KernelOps,
  key: string,
  build: () => OnnxGraph,
  inputs: Record<string, TensorInfo>,
  outputName: string,
  outShape: readonly number[],
): TensorInfo {
  const { session: s, dims } = session(key, build);
  const ort = (active as { ort: OnnxRuntimeModule }).ort;
  const out = ops.alloc(outShape);
  try {
    // Views are taken after the allocation: on wasm, growing the heap detaches older views.
    // Fed under the dims the graph declares: the same elements, possibly as blocked NCHW dims
    // over NHWC memory (see blockedConv).
    const feeds: Record<string, unknown> = {};
    let slot = 1;
    for (const [name, info] of Object.entries(inputs)) {
      const d = dims.get(name) ?? info.shape;
      feeds[name] = new ort.Tensor("float32", unshared(ops.values(info), slot++), d);
    }
    const target = ops.values(out);
    const result = unshared(target, 0);
    const outDims = dims.get(outputName) ?? outShape;
    s.run(feeds, { [outputName]: new ort.Tensor("float32", result, outDims) }, {});
    if (result !== target) target.set(result);
  } catch (err) {
    ops.dispose(out);
    throw err;
  }
  return out;
}

const allFloat = (...infos: (TensorInfo | undefined)[]) =>
  infos.every((t) => t == null || t.dtype === "float32");

const shapeKey = (t: TensorInfo) => t.shape.join("x");

type Factory = (backendName: KernelBackendName, fallback: KernelFunc) => KernelFunc;

const makeConv2D: Factory = (backendName, fallback) => (args) => {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as NamedAttrMap;
  const g = allFloat(x, filter)
    ? geometry(x.shape, filter.shape, attrs, attrs.dilations as number | [number, number])
    : null;
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
  );
};

const makeFusedConv2D: Factory = (backendName, fallback) => (args) => {
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
  const g = geometry(x.shape, filter.shape, attrs, attrs.dilations as number | [number, number]);
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
  );
};

const makeConv2DBackpropInput: Factory = (backendName, fallback) => (args) => {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as NamedAttrMap;
  const inputShape = attrs.inputShape as number[];
  const g = allFloat(dy, filter) ? geometry(inputShape, filter.shape, attrs) : null;
  const graph = g && worthIt(backendName, g.info) ? inputGradGraph(g) : null;
  if (g == null || graph == null) return fallback(args);
  const ops = kernelOps(backendName, args.backend as KernelBackend);
  const key = `Conv2DBackpropInput ${inputShape.join("x")} ${shapeKey(filter)} ${g.pads} ${g.info.strideHeight},${g.info.strideWidth}`;
  return runGraph(ops, key, () => graph, { dy, w: filter }, "dx", inputShape);
};

const makeConv2DBackpropFilter: Factory = (backendName, fallback) => (args) => {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as NamedAttrMap;
  const filterShape = attrs.filterShape as number[];
  const g = allFloat(x, dy) ? geometry(x.shape, filterShape, attrs) : null;
  if (g == null) return fallback(args);
  const ops = kernelOps(backendName, args.backend as KernelBackend);
  const key = `Conv2DBackpropFilter ${shapeKey(x)} ${filterShape.join("x")} ${g.pads} ${g.info.strideHeight},${g.info.strideWidth}`;
  return runGraph(ops, key, () => filterGradGraph(g), { x, dy }, "dw", filterShape);
};

const FACTORIES: Record<(typeof ONNXRUNTIME_KERNELS)[number], Factory> = {
  Conv2D: makeConv2D,
  FusedConv2D: makeFusedConv2D,
  Conv2DBackpropInput: makeConv2DBackpropInput,
  Conv2DBackpropFilter: makeConv2DBackpropFilter,
};

/**
 * MLAS's NCHWc block size, read off ReorderInput's output shape for 4 channels (it pads the
 * channels to a whole block); 0 when the blocked operators are missing (another build, or a
 * CPU without a blocked kernel: then the channel dimension comes back as 4).
 */
function probeBlockSize(ort: OnnxRuntimeModule): number {
  try {
    const bytes = encodeOnnxModel({
      nodes: [
        {
          op: "ReorderInput",
          domain: NCHWC,
          inputs: ["x"],
          outputs: ["y"],
          attributes: { channels_last: 1 },
        },
      ],
      inputs: [{ name: "x", shape: [1, 1, 1, 4] }],
      outputs: [{ name: "y" }],
    });
    const s = ort.createSession();
    s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, { logSeverityLevel: 3 });
    const out = s.run(
      { x: new ort.Tensor("float32", new Float32Array(4), [1, 1, 1, 4]) },
      { y: null },
      {},
    ) as { y?: { dims?: readonly number[] } };
    s.dispose?.();
    const block = out.y?.dims?.[1] ?? 0;
    return block >= 8 ? block : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs the convolutions of the `cpu` and `wasm` backends (forward, fused forward with bias and
 * ReLU, and both gradients) on ONNX Runtime's native CPU kernels, when `onnxruntime-node` is
 * installed. Anything these graphs do not cover (NCHW, non-float, other fused activations,
 * paddings the gradient graphs cannot express) runs on the kernel registered before, kept and
 * restored by `unregisterOnnxRuntimeKernels()`. Register after `registerTrainingKernels()` (whose
 * gradient kernels become the fallbacks); calling it again does nothing.
 *
 * @throws BackendError `onnxruntime_unavailable`, with one line saying why, when the package
 *   cannot be loaded; nothing is registered then.
 */
export function registerOnnxRuntimeKernels(
  options: OnnxRuntimeKernelsOptions = {},
): OnnxRuntimeKernelsReport {
  const threads = options.threads ?? os.availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new BackendError(
      "invalid_option",
      `registerOnnxRuntimeKernels: expected options.threads to be a positive integer, got ${threads}`,
    );
  }
  const minChannels = options.minChannels ?? 32;
  if (!Number.isSafeInteger(minChannels) || minChannels < 1) {
    throw new BackendError(
      "invalid_option",
      `registerOnnxRuntimeKernels: expected options.minChannels to be a positive integer, got ${minChannels}`,
    );
  }
  if (active == null) {
    const ort = (options.load ?? loadOnnxRuntime)();
    active = { ort, threads, minChannels, blockSize: probeBlockSize(ort), sessions: new Map() };
  }
  const kernels: string[] = [];
  for (const backendName of BACKENDS) {
    for (const kernelName of ONNXRUNTIME_KERNELS) {
      const key = `${kernelName}@${backendName}`;
      kernels.push(key);
      const existing = getKernel(kernelName, backendName);
      if (isOnnxRuntimeKernel(existing)) continue;
      if (existing == null) {
        // The backend package is not imported: nothing to fall back to, so nothing to replace.
        kernels.pop();
        continue;
      }
      unregisterKernel(kernelName, backendName);
      originals.set(key, existing);
      const config: KernelConfig = {
        kernelName,
        backendName,
        kernelFunc: FACTORIES[kernelName](backendName, existing.kernelFunc),
      };
      Object.defineProperty(config, MARK, { value: true });
      registerKernel(config);
    }
  }
  return { version: active.ort.version, threads: active.threads, kernels };
}

/** The running ONNX Runtime kernels' version and threads, or `null` when none are registered. */
export function onnxRuntimeKernelsActive(): {
  version: string;
  threads: number;
  minChannels: number;
  /** MLAS's NCHWc block size (8 with AVX2, 16 with AVX-512F), 0 when unavailable. */
  blockSize: number;
} | null {
  return (
    active && {
      version: active.ort.version,
      threads: active.threads,
      minChannels: active.minChannels,
      blockSize: active.blockSize,
    }
  );
}

/** Restores the kernels `registerOnnxRuntimeKernels()` replaced and releases its sessions. */
export function unregisterOnnxRuntimeKernels(): void {
  for (const backendName of BACKENDS) {
    for (const kernelName of ONNXRUNTIME_KERNELS) {
      const key = `${kernelName}@${backendName}`;
      if (!isOnnxRuntimeKernel(getKernel(kernelName, backendName))) continue;
      unregisterKernel(kernelName, backendName);
      const original = originals.get(key);
      if (original) registerKernel(original);
      originals.delete(key);
    }
  }
  if (active) {
    for (const c of active.sessions.values()) c.session.dispose?.();
    active = null;
  }
  scratch = [];
}
