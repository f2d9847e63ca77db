// The residual block, functional API: conv3x3(stride) → BN → ReLU → conv3x3 → BN, plus the
// shortcut, then ReLU.
import { layers, type SymbolicTensor } from "@tensorflow/tfjs-layers";
import {
  invalidOption,
  type LayerDefaultsOptions,
  type ResolvedLayerDefaults,
  resolveLayerDefaults,
  resolveShortcut,
  type ShortcutMode,
} from "./options.js";
import { batchNorm, conv, type SeedSource, seedSource } from "./torch-layers.js";

/** Options of {@link resBlock}. */
export interface ResBlockOptions extends LayerDefaultsOptions {
  /** Output channels of both 3x3 convs (and of the projection, when there is one). */
  filters: number;
  /** Stride of the first conv and of the projection. Defaults to `1`. */
  stride?: number;
  /**
   * Prefix of the block's layer names (`<name>_conv1`, …, `<name>_out`). Defaults to
   * `res_block{k}`, k counting the blocks built without a name.
   */
  name?: string;
  /** The residual path (see {@link ShortcutMode}). Defaults to `"auto"`. */
  shortcut?: ShortcutMode;
}

let unnamedBlocks = 0;

/**
 * Appends a basic residual block to `x` (NHWC) and returns its output. The shortcut is the
 * identity exactly when `stride` is 1 and the channels match, else conv1x1(stride) + BN.
 */
export function resBlock(x: SymbolicTensor, options: ResBlockOptions): SymbolicTensor {
  const { filters, stride = 1, name } = options;
  if (!Number.isSafeInteger(filters) || filters <= 0) {
    invalidOption("filters", "a positive integer", filters);
  }
  if (!Number.isSafeInteger(stride) || stride <= 0) {
    invalidOption("stride", "a positive integer", stride);
  }
  if (name !== undefined && (typeof name !== "string" || name.length === 0)) {
    invalidOption("name", "a non-empty string", name);
  }
  if (x.shape.length !== 4) {
    invalidOption("x", "an NHWC symbolic tensor of rank 4", x.shape);
  }
  const defaults = resolveLayerDefaults(options);
  return buildResBlock(x, {
    filters,
    stride,
    prefix: name ?? `res_block${++unnamedBlocks}`,
    shortcut: resolveShortcut(options.shortcut),
    defaults,
    seeds: seedSource(defaults.seed),
  });
}

/** What {@link buildResBlock} needs, already validated. */
export interface BlockSpec {
  readonly filters: number;
  readonly stride: number;
  readonly prefix: string;
  readonly shortcut: ShortcutMode;
  readonly defaults: ResolvedLayerDefaults;
  readonly seeds: SeedSource;
}

const apply = (
  layer: { apply(x: SymbolicTensor | SymbolicTensor[]): unknown },
  x: SymbolicTensor | SymbolicTensor[],
) => layer.apply(x) as SymbolicTensor;

export function buildResBlock(x: SymbolicTensor, spec: BlockSpec): SymbolicTensor {
  const { filters, stride, prefix: p, defaults: d, seeds } = spec;
  const inChannels = x.shape[3];
  let y = x;
  if (stride > 1) {
    // PyTorch's padding=1 pads both sides; tfjs's "same" with stride 2 on an even map pads
    // only bottom/right, which shifts every sampled window by one pixel. Pad explicitly.
    y = apply(
      layers.zeroPadding2d({
        name: `${p}_pad1`,
        padding: [
          [1, 1],
          [1, 1],
        ],
      }),
      y,
    );
  }
  y = apply(conv(`${p}_conv1`, filters, 3, stride, stride > 1 ? "valid" : "same", seeds.next()), y);
  y = apply(batchNorm(`${p}_bn1`, d), y);
  y = apply(layers.reLU({ name: `${p}_relu1` }), y);
  y = apply(conv(`${p}_conv2`, filters, 3, 1, "same", seeds.next()), y);
  y = apply(batchNorm(`${p}_bn2`, d), y);
  if (spec.shortcut === "auto") {
    let shortcut = x;
    if (stride !== 1 || inChannels !== filters) {
      // A 1x1 conv samples the same pixels with "same" or "valid" padding: no pad needed.
      shortcut = apply(conv(`${p}_shortcut_conv`, filters, 1, stride, "valid", seeds.next()), x);
      shortcut = apply(batchNorm(`${p}_shortcut_bn`, d), shortcut);
    }
    y = apply(layers.add({ name: `${p}_add` }), [y, shortcut]);
  }
  return apply(layers.reLU({ name: `${p}_out` }), y);
}
