// Layer factories with PyTorch's choices: He (Kaiming) normal init, fan_out, for convs (as
// torchvision's ResNet), no conv bias before BN, PyTorch's Linear init, PyTorch's BN numbers.
import { initializers, layers } from "@tensorflow/tfjs-layers";
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

/** A bias-free conv; kernel ~ N(0, 2 / (k*k*filters)), torchvision's kaiming_normal_(fan_out). */
export function conv(
  name: string,
  filters: number,
  kernelSize: number,
  strides: number,
  padding: "same" | "valid",
  seed: number | undefined,
) {
  return layers.conv2d({
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
