import type { LayersModel } from "@tensorflow/tfjs-layers";
import { buildCifarResNet } from "./cifar-resnet.js";
import type { ResNetOptions } from "./options.js";

/**
 * The original recipe's network: stem conv3x3 64 + BN + ReLU, stages of 2 blocks at 64,
 * 128 (stride 2) and 256 (stride 2), global average pool, dense. 2,777,674 trainable
 * parameters and about 421 M multiply-adds per 32x32 image with 10 classes. `widths`
 * changes the channels (any number of stages, 2 blocks each), e.g. `[16, 32, 64]`.
 */
export function smallResNet(options: ResNetOptions = {}): LayersModel {
  const stages = options.widths?.length ?? 3;
  return buildCifarResNet(options, new Array<number>(stages).fill(2), {
    widths: [64, 128, 256],
    name: "small_resnet",
  });
}
