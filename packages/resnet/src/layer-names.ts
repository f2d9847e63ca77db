// The layer names of the cnnkit ResNet contract. The trainer, the experiments (per-block
// gradient norms, feature maps, Grad-CAM) and the ONNX exporter find layers by these names.
import { ResNetError } from "./errors.js";

/**
 * The parts of a residual block, as the suffix of `stage{s}_block{b}_<part>`. `pool1`, `gelu1`
 * and `gelu2` are the fast ResNet's conv groups' (`fastResNet`), whose `out` is the residual sum.
 */
export type BlockPart =
  | "pad1"
  | "conv1"
  | "pool1"
  | "bn1"
  | "relu1"
  | "gelu1"
  | "conv2"
  | "bn2"
  | "gelu2"
  | "shortcut_conv"
  | "shortcut_bn"
  | "add"
  | "out";

/** Names of the layers outside the blocks. */
export const LAYER_NAMES = {
  input: "input",
  stemConv: "stem_conv",
  stemBn: "stem_bn",
  stemRelu: "stem_relu",
  /** The fast ResNet's activation after its whitening stem (`stem_conv`). */
  stemGelu: "stem_gelu",
  pool: "pool",
  /** The fast ResNet's flatten between `pool` and `head`. */
  flatten: "flatten",
  /** The fast ResNet's bias-free Dense; its output times `logitScale` is `logits`. */
  head: "head",
  logits: "logits",
} as const;

/** `stage{stage}_block{block}` (both from 1): the prefix of one block's layers. */
export function blockPrefix(stage: number, block: number): string {
  return `stage${stage}_block${block}`;
}

/** `stage{stage}_block{block}_{part}`, e.g. `blockLayerName(2, 1, "shortcut_conv")`. */
export function blockLayerName(stage: number, block: number, part: BlockPart): string {
  return `${blockPrefix(stage, block)}_${part}`;
}

/** A block layer name taken apart. */
export interface BlockLayerName {
  readonly stage: number;
  readonly block: number;
  readonly part: BlockPart;
}

const BLOCK_LAYER =
  /^stage(\d+)_block(\d+)_(pad1|conv1|pool1|bn1|relu1|gelu1|conv2|bn2|gelu2|shortcut_conv|shortcut_bn|add|out)$/;

/** Parses `stage{s}_block{b}_{part}`; `undefined` for any other name (stem, pool, logits…). */
export function parseBlockLayerName(name: string): BlockLayerName | undefined {
  const m = BLOCK_LAYER.exec(name);
  if (m === null) return undefined;
  return { stage: Number(m[1]), block: Number(m[2]), part: m[3] as BlockPart };
}

/** Anything with named layers: a `tf.LayersModel`, or a plain list for tests. */
export interface HasLayers {
  readonly name?: string;
  readonly layers: readonly { readonly name: string }[];
}

function outputs(model: HasLayers): BlockLayerName[] {
  const found = model.layers
    .map((l) => parseBlockLayerName(l.name))
    .filter((p): p is BlockLayerName => p !== undefined && p.part === "out")
    .sort((a, b) => a.stage - b.stage || a.block - b.block);
  if (found.length === 0) {
    throw new ResNetError(
      "not_a_resnet",
      `model ${JSON.stringify(model.name ?? "")}: expected layers named stage{s}_block{b}_out, found none (${model.layers.length} layers)`,
    );
  }
  return found;
}

/**
 * The output of every residual block (its final ReLU; a fast ResNet group's sum), in forward
 * order: `stage1_block1_out`, …
 */
export function blockOutputNames(model: HasLayers): string[] {
  return outputs(model).map((p) => blockLayerName(p.stage, p.block, "out"));
}

/** The output of each stage (its last block's `_out`), in forward order. */
export function stageOutputNames(model: HasLayers): string[] {
  const last = new Map<number, BlockLayerName>();
  for (const p of outputs(model)) last.set(p.stage, p);
  return [...last.values()].map((p) => blockLayerName(p.stage, p.block, "out"));
}

/** One residual block of a model, as {@link resNetBlocks} lists it. */
export interface ResNetBlock {
  readonly stage: number;
  readonly block: number;
  /** `stage{s}_block{b}`: every layer of the block starts with it. */
  readonly prefix: string;
  /** The block's output layer (`…_out`). */
  readonly output: string;
  /** Whether the shortcut is a projection (conv1x1 + BN) rather than the identity or none. */
  readonly projection: boolean;
  /** The names of the block's layers, in model order (e.g. to group weights per block). */
  readonly layerNames: readonly string[];
}

/** The residual blocks of a model in forward order, e.g. for per-block gradient norms. */
export function resNetBlocks(model: HasLayers): ResNetBlock[] {
  return outputs(model).map(({ stage, block }) => {
    const prefix = blockPrefix(stage, block);
    const layerNames = model.layers
      .map((l) => l.name)
      .filter((n) => {
        const p = parseBlockLayerName(n);
        return p !== undefined && p.stage === stage && p.block === block;
      });
    return {
      stage,
      block,
      prefix,
      output: blockLayerName(stage, block, "out"),
      projection: layerNames.includes(blockLayerName(stage, block, "shortcut_conv")),
      layerNames,
    };
  });
}
