export { type CifarResNetOptions, cifarResNet } from "./cifar-resnet.js";
export type { ResNetErrorCode } from "./errors.js";
export { ResNetError } from "./errors.js";
export { type FastResNetOptions, fastResNet, setWhiteningBiasTrainable } from "./fast-resnet.js";
export { GELU_KERNELS, gelu, geluActivation } from "./gelu.js";
export { resnet20, resnet32, resnet56 } from "./he-resnet.js";
export {
  type ImportTorchStateDictOptions,
  type ImportTorchStateDictReport,
  importTorchStateDict,
} from "./import-torch-state-dict.js";
export {
  type BlockLayerName,
  type BlockPart,
  blockLayerName,
  blockOutputNames,
  blockPrefix,
  type HasLayers,
  LAYER_NAMES,
  parseBlockLayerName,
  type ResNetBlock,
  resNetBlocks,
  stageOutputNames,
} from "./layer-names.js";
export type { LayerDefaultsOptions, ResNetOptions, ShortcutMode } from "./options.js";
export { type ResBlockOptions, resBlock } from "./res-block.js";
export { resnet18 } from "./resnet18.js";
export {
  encodeSafetensors,
  type ParseSafetensorsOptions,
  parseSafetensors,
  type SafetensorsFile,
  type SafetensorsInput,
  type SafetensorsTensor,
  safetensorsToFloat32,
} from "./safetensors.js";
export { smallResNet } from "./small-resnet.js";
export { type LayerSummary, type ModelSummary, summarize } from "./summarize.js";
export {
  BATCH_NORM_TRAINING_KERNELS,
  batchNormTraining,
  type TorchBatchNormArgs,
  torchBatchNorm,
} from "./torch-batch-norm.js";
export {
  type WhiteningKernelOptions,
  whiteningKernel,
  whiteningKernelAsync,
} from "./whitening-kernel.js";
