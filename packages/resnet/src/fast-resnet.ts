// The fast recipe's network: airbench94's (Keller Jordan, arXiv 2404.00498) whitening stem,
// three conv groups and scaled linear head, with a ResNet-style identity shortcut in each group
// (as David Page's ResNet-9), from built-in tfjs layers.
import * as tf from "@tensorflow/tfjs-core";
import {
  initializers,
  input,
  type LayersModel,
  type LayerVariable,
  layers,
  model,
  type SymbolicTensor,
} from "@tensorflow/tfjs-layers";
import type { Shape } from "@tensorflow/tfjs-layers/dist/keras_format/common.js";
import type { Conv2D, ConvLayerArgs } from "@tensorflow/tfjs-layers/dist/layers/convolutional.js";
import type { Kwargs } from "@tensorflow/tfjs-layers/dist/types.js";
import { ResNetError } from "./errors.js";
import { freezeWeights } from "./frozen-weights.js";
import { geluActivation } from "./gelu.js";
import { blockLayerName, LAYER_NAMES } from "./layer-names.js";
import { invalidOption, type LayerDefaultsOptions, resolveResNetOptions } from "./options.js";
import { torchBatchNorm } from "./torch-batch-norm.js";
import { seedSource, torchDefaultConv } from "./torch-layers.js";
import { WHITENING_PATCH, whiteningFromSecondMoment, whiteningWidth } from "./whitening-kernel.js";

/** Options of {@link fastResNet}. */
export interface FastResNetOptions extends LayerDefaultsOptions {
  /** Number of classes of the `head` (and `logits`). Defaults to `10` (CIFAR-10). */
  numClasses?: number;
  /** Channels of the three conv groups. Defaults to `[64, 256, 256]` (airbench94's). */
  widths?: readonly number[];
  /** Input shape, NHWC without the batch. Defaults to `[32, 32, 3]` (CIFAR). */
  inputShape?: readonly [number, number, number];
  /**
   * Add each group's first activation to its output (`h + gelu(bn(conv(h)))`), the identity
   * shortcut; `false` is airbench94's plain network exactly. Defaults to `true`.
   */
  residual?: boolean;
  /**
   * Initialise each 3×3 conv as PyTorch does (U(±1/sqrt(fanIn))), then overwrite its first
   * `min(inChannels, filters)` filters with the identity (`torch.nn.init.dirac_`): output channel
   * c copies input channel c through the centre tap. Defaults to `true` (airbench's).
   */
  identityInit?: boolean;
  /** Factor applied to the head's output (the `logits` Rescaling layer). Defaults to `1/9`. */
  logitScale?: number;
  /**
   * The whitening stem's kernel `[2, 2, c, 8c]` (tfjs layout), as {@link whiteningKernel}
   * returns it: a tensor (not disposed), or its values in that layout (a `Float32Array` passes
   * to worker threads, e.g. as an argument of a `DataParallel` builder). Defaults to the kernel
   * of white data (identity second moments): each patch value, scaled by `1/sqrt(1 + 5e-4)`,
   * and its negative.
   */
  whitening?: tf.Tensor | Float32Array | readonly number[];
  /** BatchNorm epsilon. Defaults to `1e-12` (airbench's). */
  batchNormEpsilon?: number;
  /**
   * BatchNorm momentum in Keras convention, `new = momentum·old + (1 − momentum)·batch`.
   * Defaults to `0.6` (airbench's `batchnorm_momentum`, passed to PyTorch as `momentum=0.4`).
   */
  batchNormMomentum?: number;
  /** The model's name. Defaults to `"fast_resnet"`. */
  name?: string;
}

type Conv2DClass = new (args: ConvLayerArgs) => Conv2D;
let whiteningConvClass: Conv2DClass | undefined;

/**
 * tfjs-layers' Conv2D with its kernel frozen (out of `trainableWeights` whatever `trainable`
 * is set to; `layer.trainable` then switches the bias alone) and its bias added after a plain
 * `tf.conv2d`: with nothing trainable before it and a frozen kernel, autodiff then runs no
 * gradient convolution for the stem at all (the fused op's gradient would compute both).
 * Serialises as the built-in "Conv2D" and is never registered.
 */
function getWhiteningConvClass(): Conv2DClass {
  if (whiteningConvClass !== undefined) return whiteningConvClass;
  const Base = Object.getPrototypeOf(
    layers.conv2d({ filters: 1, kernelSize: 1, name: "cnnkit_probe_whitening" }),
  ).constructor as typeof Conv2D;

  class WhiteningConv2D extends Base {
    static override className = "Conv2D";
    private buildOrder: LayerVariable[] | undefined;

    override build(inputShape: Shape | Shape[]): void {
      super.build(inputShape);
      this.buildOrder = freezeWeights(this, [this.kernel]);
    }

    override get weights(): LayerVariable[] {
      return this.buildOrder ?? super.weights;
    }

    override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (
        x === undefined ||
        x.rank !== 4 ||
        this.bias === null ||
        this.dataFormat !== "channelsLast" ||
        this.activation.getClassName() !== "linear"
      ) {
        return super.call(inputs, kwargs);
      }
      return tf.tidy(() =>
        tf.add(
          tf.conv2d(
            x as tf.Tensor4D,
            this.kernel.read() as tf.Tensor4D,
            this.strides as [number, number],
            this.padding === "same" ? "same" : "valid",
            "NHWC",
            this.dilationRate as [number, number],
          ),
          this.bias.read(),
        ),
      );
    }
  }
  whiteningConvClass = WhiteningConv2D as unknown as Conv2DClass;
  return whiteningConvClass;
}

const apply = (
  layer: { apply(x: SymbolicTensor | SymbolicTensor[]): unknown },
  x: SymbolicTensor | SymbolicTensor[],
) => layer.apply(x) as SymbolicTensor;

const gelu = (name: string) => geluActivation({ name });

/**
 * The fast recipe's residual network, from built-in tfjs layers (a saved model loads in plain
 * tfjs with no cnnkit code). NHWC input `[32, 32, 3]`, normalised; output `[numClasses]` logits.
 *
 *   stem_conv   Conv2D 2×2 valid, 3 → 24, bias (31×31): the whitening stem, kernel frozen
 *               (see {@link whiteningKernel}), bias trainable (see {@link setWhiteningBiasTrainable})
 *   stem_gelu   GELU (the exact erf form, PyTorch's nn.GELU())
 *   stage{s}_block1_…, s = 1, 2, 3 (widths w_s, maps 15×15, 7×7, 3×3), each conv group:
 *     conv1 (3×3 same, no bias) → pool1 (MaxPool 2×2) → bn1 → gelu1 = h
 *     → conv2 (3×3 same, no bias) → bn2 → gelu2; out = h + gelu2 (an Add), or with
 *     `residual: false` out is the second GELU itself (airbench94 exactly)
 *   pool (MaxPool 3×3 → 1×1) → flatten → head (Dense, no bias) → logits (Rescaling × logitScale)
 *
 * BatchNorm is airbench's: gamma a frozen weight of ones, beta trainable, momentum 0.6 (Keras
 * convention), eps 1e-12, moving variance updated with the unbiased batch variance, as PyTorch.
 * At the default widths [64, 256, 256]: 1,971,352 trainable parameters (3,744 more frozen: the
 * whitening kernel, the BN scales and moving statistics) and 118,147,360 multiply-adds per
 * image, airbench94's ~118 M (convolutions and the head: 13.3 + 8.3, 33.2 + 28.9 and 28.9 +
 * 5.3 M in the groups, 0.28 M in the stem, 2,560 in the head). At [32, 128, 128]: 497,240
 * and 33,066,272; at [24, 96, 96]: 281,352 and 19,966,560 (`summarize(model)`).
 */
export function fastResNet(options: FastResNetOptions = {}): LayersModel {
  const o = resolveResNetOptions(
    {
      ...options,
      shortcut: undefined,
      batchNormEpsilon: options.batchNormEpsilon ?? 1e-12,
      batchNormMomentum: options.batchNormMomentum ?? 0.6,
    },
    { widths: [64, 256, 256], name: "fast_resnet", stages: 3 },
  );
  const { residual = true, identityInit = true, logitScale = 1 / 9 } = options;
  if (typeof residual !== "boolean") invalidOption("residual", "a boolean", residual);
  if (typeof identityInit !== "boolean") invalidOption("identityInit", "a boolean", identityInit);
  if (!(Number.isFinite(logitScale) && logitScale !== 0)) {
    invalidOption("logitScale", "a finite non-zero number", logitScale);
  }
  const [height, width, channels] = o.inputShape;
  if (height < 25 || width < 25) {
    // 2×2 valid conv, three 2×2 poolings, then the 3×3 one needs a map of at least 3×3.
    invalidOption("inputShape", "[height ≥ 25, width ≥ 25, channels]", o.inputShape);
  }
  const stemWidth = whiteningWidth(channels);
  const kernel = resolveWhitening(options.whitening, channels);
  const seeds = seedSource(o.seed);

  const x = input({ shape: [...o.inputShape], name: LAYER_NAMES.input });
  const WhiteningConv2D = getWhiteningConvClass();
  const stem = new WhiteningConv2D({
    name: LAYER_NAMES.stemConv,
    filters: stemWidth,
    kernelSize: WHITENING_PATCH,
    padding: "valid",
    useBias: true,
    // Both are overwritten below; zeros keep the saved config free of random initialisers.
    kernelInitializer: "zeros",
    biasInitializer: "zeros",
  });
  let y = apply(gelu(LAYER_NAMES.stemGelu), apply(stem, x));
  const convs: { name: string; inChannels: number }[] = [];
  o.widths.forEach((filters, i) => {
    const s = i + 1;
    const name = (part: Parameters<typeof blockLayerName>[2]) => blockLayerName(s, 1, part);
    const bn = (part: "bn1" | "bn2") =>
      torchBatchNorm({
        name: name(part),
        epsilon: o.batchNormEpsilon,
        momentum: o.batchNormMomentum,
        unbiasedMovingVariance: o.unbiasedMovingVariance,
        trainableScale: false,
      });
    const inChannels = y.shape[3] as number;
    convs.push({ name: name("conv1"), inChannels }, { name: name("conv2"), inChannels: filters });
    y = apply(torchDefaultConv(name("conv1"), filters, 3, inChannels, seeds.next()), y);
    y = apply(layers.maxPooling2d({ name: name("pool1"), poolSize: 2, strides: 2 }), y);
    const h = apply(gelu(name("gelu1")), apply(bn("bn1"), y));
    y = apply(torchDefaultConv(name("conv2"), filters, 3, filters, seeds.next()), h);
    y = apply(gelu(residual ? name("gelu2") : name("out")), apply(bn("bn2"), y));
    if (residual) y = apply(layers.add({ name: name("out") }), [h, y]);
  });
  y = apply(layers.maxPooling2d({ name: LAYER_NAMES.pool, poolSize: 3, strides: 3 }), y);
  y = apply(layers.flatten({ name: LAYER_NAMES.flatten }), y);
  const fanIn = y.shape[1] as number;
  const limit = 1 / Math.sqrt(fanIn);
  const headSeed = seeds.next();
  y = apply(
    layers.dense({
      name: LAYER_NAMES.head,
      units: o.numClasses,
      useBias: false,
      // nn.Linear's default: U(±1/sqrt(fanIn)).
      kernelInitializer: initializers.randomUniform({
        minval: -limit,
        maxval: limit,
        ...(headSeed === undefined ? {} : { seed: headSeed }),
      }),
    }),
    y,
  );
  y = apply(layers.rescaling({ name: LAYER_NAMES.logits, scale: logitScale }), y);
  const m = model({ inputs: x, outputs: y, name: o.name });

  tf.tidy(() => {
    const shape = [WHITENING_PATCH, WHITENING_PATCH, channels, stemWidth];
    stem.setWeights([
      kernel === undefined
        ? defaultWhitening(channels)
        : kernel instanceof tf.Tensor
          ? kernel
          : tf.tensor(kernel, shape, "float32"),
      tf.zeros([stemWidth]),
    ]);
    if (identityInit) for (const c of convs) diracInit(m.getLayer(c.name), c.inChannels);
  });
  return m;
}

/** The option's kernel `[2, 2, c, 8c]`, checked: the caller's tensor, or its values. */
function resolveWhitening(
  whitening: FastResNetOptions["whitening"],
  channels: number,
): tf.Tensor | Float32Array | undefined {
  if (whitening === undefined) return undefined;
  const shape = [WHITENING_PATCH, WHITENING_PATCH, channels, whiteningWidth(channels)];
  const size = shape.reduce((a, b) => a * b, 1);
  if (whitening instanceof tf.Tensor) {
    if (whitening.shape.join() !== shape.join() || whitening.dtype !== "float32") {
      throw new ResNetError(
        "invalid_option",
        `whitening: expected a float32 kernel [${shape.join(", ")}] (whiteningKernel of ${channels}-channel images), got ${whitening.dtype} [${whitening.shape.join(", ")}]`,
      );
    }
    return whitening;
  }
  if (
    !(whitening instanceof Float32Array || Array.isArray(whitening)) ||
    whitening.length !== size ||
    !Array.prototype.every.call(whitening, Number.isFinite)
  ) {
    invalidOption(
      "whitening",
      `a kernel [${shape.join(", ")}]: a tensor, or ${size} finite numbers in that layout`,
      whitening instanceof Float32Array ? `Float32Array(${whitening.length})` : whitening,
    );
  }
  return Float32Array.from(whitening);
}

/** The whitening kernel of white data: identity second moments. */
function defaultWhitening(channels: number): tf.Tensor {
  const dim = WHITENING_PATCH * WHITENING_PATCH * channels;
  const identity = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) identity[i * dim + i] = 1;
  return whiteningFromSecondMoment(identity, dim);
}

/**
 * `torch.nn.init.dirac_(w[:inChannels])` on a 3×3 conv kernel `[3, 3, in, out]`: output channel
 * c < min(in, out) becomes the identity of input channel c (1 at the centre tap, 0 elsewhere).
 * On the device (a mask and `where`), reading nothing back: a GPU backend builds the model too.
 */
function diracInit(
  layer: { getWeights(): tf.Tensor[]; setWeights(w: tf.Tensor[]): void },
  inChannels: number,
) {
  const [kernel] = layer.getWeights();
  const [kh, kw, cin, cout] = kernel!.shape as [number, number, number, number];
  const identity = new Float32Array(kh * kw * cin * cout);
  const replaced = new Uint8Array(identity.length);
  const centre = (Math.floor(kh / 2) * kw + Math.floor(kw / 2)) * cin;
  for (let c = 0; c < Math.min(inChannels, cout); c++) {
    for (let tap = 0; tap < kh * kw * cin; tap++) replaced[tap * cout + c] = 1;
    identity[(centre + c) * cout + c] = 1;
  }
  const shape: [number, number, number, number] = [kh, kw, cin, cout];
  layer.setWeights([
    tf.where(tf.tensor4d(replaced, shape, "bool"), tf.tensor4d(identity, shape), kernel!),
  ]);
}

/**
 * Switches training of the whitening stem's bias (`stem_conv`'s; its kernel is frozen for
 * good). airbench trains it for the first epochs only: call with `false` then. The same as
 * `model.getLayer("stem_conv").trainable = trainable`: the bias leaves (or rejoins)
 * `model.trainableWeights`, which is what `@cnnkit/backends`' `trainableVariables` and
 * `classifierGradients` differentiate, read at each call. Not saved as such: the layer's
 * `trainable` goes into the model's JSON, and a plain-tfjs reload of a frozen stem freezes its
 * kernel too (as wanted), but a reload of an unfrozen one trains its kernel.
 */
export function setWhiteningBiasTrainable(m: LayersModel, trainable: boolean): void {
  if (typeof trainable !== "boolean") invalidOption("trainable", "a boolean", trainable);
  const layer = m.layers.find((l) => l.name === LAYER_NAMES.stemConv);
  // The built-in class (a model reloaded in plain tfjs) would unfreeze the kernel with the bias.
  if (!(layer instanceof getWhiteningConvClass())) {
    throw new ResNetError(
      "not_a_resnet",
      `model ${JSON.stringify(m.name)}: expected the whitening stem "${LAYER_NAMES.stemConv}" of a model built by fastResNet (its kernel frozen), found ${layer === undefined ? "no such layer" : `a plain ${layer.getClassName()} (a reloaded model? rebuild it with fastResNet and load the weights by name)`}`,
    );
  }
  layer.trainable = trainable;
}
