// The network a config asks for, built by @cnnkit/resnet with a seeded initialisation.

import { CIFAR10_IMAGE_BYTES, type Cifar10Split } from "@cnnkit/cifar10";
import {
  fastResNet,
  resnet18,
  resnet20,
  resnet32,
  resnet56,
  smallResNet,
  whiteningKernel,
} from "@cnnkit/resnet";
import type { ReplicaBuilder } from "@cnnkit/train/data-parallel";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import type { TrainConfig } from "./config.js";
import { normalizeStats } from "./data.js";

/** The @cnnkit/resnet builder of each `model` of a config, and its export name (for replicas). */
export const BUILDERS = {
  "fast-resnet": ["fastResNet", fastResNet],
  "small-resnet": ["smallResNet", smallResNet],
  resnet20: ["resnet20", resnet20],
  resnet32: ["resnet32", resnet32],
  resnet56: ["resnet56", resnet56],
  resnet18: ["resnet18", resnet18],
} as const;

type ModelConfig = Pick<TrainConfig, "model" | "widths" | "shortcut" | "seed">;

/** The builder's options; `whitening` is fast-resnet's stem kernel (see {@link whiteningOf}). */
function builderOptions(config: ModelConfig, numClasses: number, whitening?: Float32Array) {
  const { widths, seed } = config;
  if (config.model === "fast-resnet") {
    const residual = config.shortcut !== "none";
    return { widths, residual, seed, numClasses, ...(whitening ? { whitening } : {}) };
  }
  return { widths, shortcut: config.shortcut, seed, numClasses };
}

/**
 * Builds the config's model; the same config (seed included) and the same `whitening` give the
 * same initial weights. `whitening` only applies to `fast-resnet`.
 */
export function buildModel(
  config: ModelConfig,
  numClasses = 10,
  whitening?: Float32Array,
): LayersModel {
  const build = BUILDERS[config.model][1] as (o: object) => LayersModel;
  return build(builderOptions(config, numClasses, whitening));
}

/**
 * How data-parallel replicas (`DataParallel`'s workers) build the same model: the same
 * @cnnkit/resnet builder with the same options (the whitening kernel travels as a Float32Array).
 */
export function replicaBuilder(
  config: ModelConfig,
  numClasses = 10,
  whitening?: Float32Array,
): ReplicaBuilder {
  return {
    module: import.meta.resolve("@cnnkit/resnet"),
    export: BUILDERS[config.model][0],
    args: [builderOptions(config, numClasses, whitening)],
  };
}

/** How many training images the whitening stem is computed from (airbench's 5,000). */
export const WHITENING_IMAGES = 5000;

/**
 * fast-resnet's whitening stem from the first 5,000 images of the run's training split,
 * normalised exactly as the loader normalises the model's inputs; `undefined` when the config
 * does not ask for it (the model then keeps its default kernel, which whitens nothing).
 */
export function whiteningOf(
  train: Cifar10Split,
  config: Pick<TrainConfig, "model" | "whitening" | "normalize">,
): Float32Array | undefined {
  if (config.model !== "fast-resnet" || !config.whitening) return undefined;
  const n = Math.min(WHITENING_IMAGES, train.length);
  const kernel = tf.tidy(() => {
    const pixels = tf.tensor4d(
      train.images.subarray(0, n * CIFAR10_IMAGE_BYTES),
      [n, 32, 32, 3],
      "int32",
    );
    let x = tf.div(tf.cast(pixels, "float32"), 255);
    const stats = normalizeStats(config);
    if (stats) x = tf.div(tf.sub(x, [...stats.mean]), [...stats.std]);
    return whiteningKernel(x as tf.Tensor4D);
  });
  try {
    return kernel.dataSync() as Float32Array;
  } finally {
    kernel.dispose();
  }
}
