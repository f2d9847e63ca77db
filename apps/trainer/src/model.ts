// The network a config asks for, built by @cnnkit/resnet with a seeded initialisation.
import { resnet18, resnet20, resnet32, resnet56, smallResNet } from "@cnnkit/resnet";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import type { TrainConfig } from "./config.js";

const BUILDERS = {
  "small-resnet": smallResNet,
  resnet20,
  resnet32,
  resnet56,
  resnet18,
} as const;

/** Builds the config's model; the same config (seed included) gives the same initial weights. */
export function buildModel(
  config: Pick<TrainConfig, "model" | "widths" | "shortcut" | "seed">,
  numClasses = 10,
): LayersModel {
  return BUILDERS[config.model]({
    widths: config.widths,
    shortcut: config.shortcut,
    seed: config.seed,
    numClasses,
  });
}
