import type { LayersModel } from "@tensorflow/tfjs-layers";
import { buildCifarResNet } from "./cifar-resnet.js";
import type { ResNetOptions } from "./options.js";

/**
 * ResNet-18 with the CIFAR stem (conv3x3 stride 1, no max-pool, as in the widely used
 * pytorch-cifar port): 4 stages of 2 blocks at 64, 128, 256, 512 channels; 11,173,962
 * parameters with 10 classes.
 */
export function resnet18(options: ResNetOptions = {}): LayersModel {
  return buildCifarResNet(options, [2, 2, 2, 2], {
    widths: [64, 128, 256, 512],
    name: "resnet18",
    stages: 4,
  });
}
