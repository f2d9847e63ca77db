// Layer factories with PyTorch's choices: He (Kaiming) normal init, fan_out, for convs (as
// torchvision's ResNet), no conv bias before BN, PyTorch's Linear init, PyTorch's BN numbers.
import * as tf from "@tensorflow/tfjs-core";
import { initializers, layers } from "@tensorflow/tfjs-layers";
import type { Layer } from "@tensorflow/tfjs-layers/dist/engine/topology.js";
import type { Conv2D, ConvLayerArgs } from "@tensorflow/tfjs-layers/dist/layers/convolutional.js";
import type { Kwargs } from "@tensorflow/tfjs-layers/dist/types.js";
import type { ResolvedLayerDefaults } from "./options.js";
import { torchBatchNorm } from "./torch-batch-norm.js";

/** Hands out per-layer seeds so a seeded model is reproducible layer by layer. */
export interface SeedSource {
  next(): number | undefined;
}

export function seedSource(seed: number | undefined): SeedSource {
  // tfjs initialisers read a seed of 0 as "no seed" (`seed ? seed : Math.random()`), so layer k
  // gets `seed + k + 1`, and `seed: 0` is as reproducible as any other seed.
  let k = 1;
  return { next: () => (seed === undefined ? undefined : seed + k++) };
}

type Conv2DClass = new (args: ConvLayerArgs) => Layer;
let biasFreeConv2DClass: Conv2DClass | undefined;

/**
 * tfjs-layers' Conv2D, except that without bias and activation (every conv here: BatchNorm
 * follows) it calls `tf.conv2d` instead of `tf.fused.conv2d`. The fused op's gradient computes
 * the input's and the filter's gradients together, always; the plain op's are computed only for
 * what needs one, so autodiff no longer computes the gradient of the input images through the
 * stem conv, which nothing uses (1–3% of a small net's training step). Same kernels, same
 * numbers. It serialises as the built-in "Conv2D" (same className and config) and is never
 * registered, so a saved model loads in plain tfjs as the built-in class.
 */
function getBiasFreeConv2DClass(): Conv2DClass {
  if (biasFreeConv2DClass !== undefined) return biasFreeConv2DClass;
  const Base = Object.getPrototypeOf(
    layers.conv2d({ filters: 1, kernelSize: 1, name: "cnnkit_probe_conv" }),
  ).constructor as typeof Conv2D;

  class BiasFreeConv2D extends Base {
    static override className = "Conv2D";

    override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (
        x === undefined ||
        x.rank !== 4 ||
        this.useBias ||
        this.dataFormat !== "channelsLast" ||
        this.activation.getClassName() !== "linear"
      ) {
        return super.call(inputs, kwargs);
      }
      return tf.tidy(() =>
        tf.conv2d(
          x as tf.Tensor4D,
          this.kernel.read() as tf.Tensor4D,
          this.strides as [number, number],
          this.padding === "same" ? "same" : "valid",
          "NHWC",
          this.dilationRate as [number, number],
        ),
      );
    }
  }
  biasFreeConv2DClass = BiasFreeConv2D as unknown as Conv2DClass;
  return biasFreeConv2DClass;
}

/** A bias-free conv; kernel ~ N(0, 2 / (k*k*filters)), torchvision's kaiming_normal_(fan_out). */
export function conv(
  name: string,
  filters: number,
  kernelSize: number,
  strides: number,
  padding: "same" | "valid",
  seed: number | undefined,
) {
  const BiasFreeConv2D = getBiasFreeConv2DClass();
  return new BiasFreeConv2D({
    name,
    filters,
    kernelSize,
    strides,
    padding,
    useBias: false,
    kernelInitializer: initializers.randomNormal({
      mean: 0,
      stddev: Math.sqrt(2 / (kernelSize * kernelSize * filters)),
      ...(seed === undefined ? {} : { seed }),
    }),
  });
}

/**
 * A bias-free stride-1 conv with nn.Conv2d's own default init, kaiming_uniform_(a=√5):
 * U(-1/sqrt(fanIn), 1/sqrt(fanIn)), fanIn = k*k*inChannels (what airbench keeps; torchvision's
 * ResNet, and {@link conv}, re-initialise with kaiming_normal_ fan_out instead).
 */
export function torchDefaultConv(
  name: string,
  filters: number,
  kernelSize: number,
  inChannels: number,
  seed: number | undefined,
) {
  const BiasFreeConv2D = getBiasFreeConv2DClass();
  const limit = 1 / Math.sqrt(kernelSize * kernelSize * inChannels);
  return new BiasFreeConv2D({
    name,
    filters,
    kernelSize,
    strides: 1,
    padding: "same",
    useBias: false,
    kernelInitializer: initializers.randomUniform({
      minval: -limit,
      maxval: limit,
      ...(seed === undefined ? {} : { seed }),
    }),
  });
}

export function batchNorm(name: string, d: ResolvedLayerDefaults) {
  return torchBatchNorm({
    name,
    epsilon: d.batchNormEpsilon,
    momentum: d.batchNormMomentum,
    unbiasedMovingVariance: d.unbiasedMovingVariance,
  });
}

/** PyTorch's nn.Linear init: weight and bias ~ U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function linear(name: string, units: number, fanIn: number, seeds: SeedSource) {
  const limit = 1 / Math.sqrt(fanIn);
  const kernelSeed = seeds.next();
  const biasSeed = seeds.next();
  return layers.dense({
    name,
    units,
    kernelInitializer: initializers.randomUniform({
      minval: -limit,
      maxval: limit,
      ...(kernelSeed === undefined ? {} : { seed: kernelSeed }),
    }),
    biasInitializer: initializers.randomUniform({
      minval: -limit,
      maxval: limit,
      ...(biasSeed === undefined ? {} : { seed: biasSeed }),
    }),
  });
}
