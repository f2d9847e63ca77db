// ResNet-20/32/56 of He et al. 2016 ("Deep Residual Learning", section 4.2, CIFAR-10):
// 3 stages of n blocks at 16, 32, 64 channels, depth 6n + 2.
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { buildCifarResNet } from "./cifar-resnet.js";
import type { ResNetOptions } from "./options.js";

// The paper's CIFAR models use zero-padding ("option A") shortcuts; these use the projection
// (option B), the one shortcut rule of this package, so layer names and the PyTorch import
// are the same for every network. It adds 2,752 parameters to ResNet-20 (272,474 in all).
function heResNet(n: number, options: ResNetOptions): LayersModel {
  return buildCifarResNet(options, [n, n, n], {
    widths: [16, 32, 64],
    name: `resnet${6 * n + 2}`,
    stages: 3,
  });
}

/** ResNet-20 (He et al. 2016, CIFAR variant): 3 stages of 3 blocks at 16/32/64 channels. */
export function resnet20(options: ResNetOptions = {}): LayersModel {
  return heResNet(3, options);
}

/** ResNet-32 (He et al. 2016, CIFAR variant): 3 stages of 5 blocks at 16/32/64 channels. */
export function resnet32(options: ResNetOptions = {}): LayersModel {
  return heResNet(5, options);
}

/** ResNet-56 (He et al. 2016, CIFAR variant): 3 stages of 9 blocks at 16/32/64 channels. */
export function resnet56(options: ResNetOptions = {}): LayersModel {
  return heResNet(9, options);
}
