// The network a config asks for, built by @cnnkit/resnet with a seeded initialisation.
import type { ReplicaBuilder } from "@cnnkit/backends";
import { resnet18, resnet20, resnet32, resnet56, smallResNet } from "@cnnkit/resnet";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import type { TrainConfig } from "./config.js";

/** The @cnnkit/resnet builder of each `model` of a config, and its export name (for replicas). */
export const BUILDERS = {
  "small-resnet": ["smallResNet", smallResNet],
  resnet20: ["resnet20", resnet20],
  resnet32: ["resnet32", resnet32],
  resnet56: ["resnet56", resnet56],
  resnet18: ["resnet18", resnet18],
} as const;

type ModelConfig = Pick<TrainConfig, "model" | "widths" | "shortcut" | "seed">;

function builderOptions(config: ModelConfig, numClasses: number) {
  return { widths: config.widths, shortcut: config.shortcut, seed: config.seed, numClasses };
}

/** Builds the config's model; the same config (seed included) gives the same initial weights. */
export function buildModel(config: ModelConfig, numClasses = 10): LayersModel {
  return BUILDERS[config.model][1](builderOptions(config, numClasses));
}

/**
 * How data-parallel replicas (`DataParallel`'s workers) build the same model: the same
 * @cnnkit/resnet builder with the same options, resolved from here.
 */
export function replicaBuilder(config: ModelConfig, numClasses = 10): ReplicaBuilder {
  return {
    module: import.meta.resolve("@cnnkit/resnet"),
    export: BUILDERS[config.model][0],
    args: [builderOptions(config, numClasses)],
  };
}
