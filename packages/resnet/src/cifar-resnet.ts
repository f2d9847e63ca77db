// The CIFAR ResNet skeleton every named network shares: conv3x3 stem + BN + ReLU, stages of
// basic blocks (the first at stride 1, the others halving the map), global average pool, dense.
import {
  input,
  type LayersModel,
  layers,
  model,
  type SymbolicTensor,
} from "@tensorflow/tfjs-layers";
import { blockPrefix, LAYER_NAMES } from "./layer-names.js";
import { invalidOption, type ResNetOptions, resolveResNetOptions } from "./options.js";
import { buildResBlock } from "./res-block.js";
import { batchNorm, conv, linear, seedSource } from "./torch-layers.js";

/** Options of {@link cifarResNet}: the shared options plus the block count of each stage. */
export interface CifarResNetOptions extends ResNetOptions {
  /** Residual blocks per stage, e.g. `[2, 2, 2]`; one entry per entry of `widths`. */
  blocks: readonly number[];
  /** Channels of each stage; the stem uses the first, e.g. `[64, 128, 256]`. */
  widths: readonly number[];
}

/**
 * Builds a CIFAR-style ResNet of any depth and width from built-in tfjs layers only, named by
 * the cnnkit contract (`stem_conv`, `stage{s}_block{b}_…`, `pool`, `logits`). Outputs logits.
 */
export function cifarResNet(options: CifarResNetOptions): LayersModel {
  const { blocks } = options;
  if (
    !Array.isArray(blocks) ||
    !blocks.every((n) => Number.isSafeInteger(n) && n > 0) ||
    blocks.length !== options.widths?.length
  ) {
    invalidOption(
      "blocks",
      `one positive block count per stage width (${options.widths?.length ?? 0} widths)`,
      blocks,
    );
  }
  return buildCifarResNet(options, blocks, { widths: options.widths, name: "cifar_resnet" });
}

/** Builds with per-network defaults (used by `smallResNet`, `resnet20`, …). */
export function buildCifarResNet(
  options: ResNetOptions,
  blocks: readonly number[],
  defaults: { widths: readonly number[]; name: string; stages?: number },
): LayersModel {
  const o = resolveResNetOptions(options, defaults);
  const seeds = seedSource(o.seed);
  const x = input({ shape: [...o.inputShape], name: LAYER_NAMES.input });
  let y: SymbolicTensor = conv(
    LAYER_NAMES.stemConv,
    o.widths[0]!,
    3,
    1,
    "same",
    seeds.next(),
  ).apply(x) as SymbolicTensor;
  y = batchNorm(LAYER_NAMES.stemBn, o).apply(y) as SymbolicTensor;
  y = layers.reLU({ name: LAYER_NAMES.stemRelu }).apply(y) as SymbolicTensor;
  o.widths.forEach((filters, s) => {
    for (let b = 0; b < blocks[s]!; b++) {
      y = buildResBlock(y, {
        filters,
        stride: s > 0 && b === 0 ? 2 : 1,
        prefix: blockPrefix(s + 1, b + 1),
        shortcut: o.shortcut,
        defaults: o,
        seeds,
      });
    }
  });
  y = layers.globalAveragePooling2d({ name: LAYER_NAMES.pool }).apply(y) as SymbolicTensor;
  const fanIn = o.widths[o.widths.length - 1]!;
  y = linear(LAYER_NAMES.logits, o.numClasses, fanIn, seeds).apply(y) as SymbolicTensor;
  return model({ inputs: x, outputs: y, name: o.name });
}
