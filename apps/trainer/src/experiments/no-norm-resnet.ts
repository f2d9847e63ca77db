// The residuals experiment's networks without BatchNorm: @cnnkit/resnet's CIFAR ResNet (same
// stages, blocks, strides, He-normal fan_out initialisation and layer names, so the per-block
// gradient norms group the same way), with every BatchNorm taken out and a bias on each conv
// instead. Without BatchNorm nothing re-scales the signal between layers, which is the setting
// where a deep plain network stops training and the identity shortcut is what keeps it going.
// The library never builds these: BatchNorm is part of its blocks, as in the paper.
import { blockLayerName, LAYER_NAMES } from "@cnnkit/resnet";
import {
  initializers,
  input,
  type LayersModel,
  layers,
  model,
  type SymbolicTensor,
} from "@tensorflow/tfjs-layers";

/**
 * `"identity"`: the standard shortcut (a 1×1 projection only where the shape changes).
 * `"none"`: no shortcut, a plain network. `"wrong-projection"`: a broken shortcut — every block
 * adds a 1×1 projection of its own output instead of its input: it builds, runs, has the Add
 * layers and a projection's weights, and skips nothing.
 */
export type NoNormShortcut = "identity" | "none" | "wrong-projection";

export interface NoNormResNetOptions {
  /** Channels of each stage, e.g. `[8, 16, 32]`. */
  widths: readonly number[];
  /** Blocks per stage, e.g. `[3, 3, 3]` (ResNet-20) or `[9, 9, 9]` (ResNet-56). */
  blocks: readonly number[];
  shortcut: NoNormShortcut;
  numClasses: number;
  /** Layer k (from 0) initialises with `seed + k + 1`, as @cnnkit/resnet does. */
  seed: number;
}

/** Builds the network; the same options give the same initial weights. */
export function noNormResNet(o: NoNormResNetOptions): LayersModel {
  let k = 1;
  const conv = (name: string, filters: number, size: number, stride: number, pad: boolean) =>
    layers.conv2d({
      name,
      filters,
      kernelSize: size,
      strides: stride,
      padding: pad ? "same" : "valid",
      kernelInitializer: initializers.randomNormal({
        mean: 0,
        stddev: Math.sqrt(2 / (size * size * filters)),
        seed: o.seed + k++,
      }),
    });
  const apply = (layer: { apply(x: SymbolicTensor | SymbolicTensor[]): unknown }, x: unknown) =>
    layer.apply(x as SymbolicTensor) as SymbolicTensor;

  const x = input({ shape: [32, 32, 3], name: LAYER_NAMES.input });
  let y = apply(conv(LAYER_NAMES.stemConv, o.widths[0]!, 3, 1, true), x);
  y = apply(layers.reLU({ name: LAYER_NAMES.stemRelu }), y);
  o.widths.forEach((filters, s) => {
    for (let b = 1; b <= o.blocks[s]!; b++) {
      const name = (part: Parameters<typeof blockLayerName>[2]) => blockLayerName(s + 1, b, part);
      const stride = s > 0 && b === 1 ? 2 : 1;
      const inputs = y;
      let z = inputs;
      if (stride > 1) {
        const padding: [[number, number], [number, number]] = [
          [1, 1],
          [1, 1],
        ];
        z = apply(layers.zeroPadding2d({ name: name("pad1"), padding }), z);
      }
      z = apply(conv(name("conv1"), filters, 3, stride, stride === 1), z);
      z = apply(layers.reLU({ name: name("relu1") }), z);
      z = apply(conv(name("conv2"), filters, 3, 1, true), z);
      const reshaped = stride !== 1 || inputs.shape[3] !== filters;
      if (o.shortcut === "wrong-projection") {
        // The bug: the projection reads the block's own output instead of its input, so the
        // sum is (I + P)·F(x) and no path goes around the block's convolutions.
        const shortcut = apply(conv(name("shortcut_conv"), filters, 1, 1, false), z);
        z = apply(layers.add({ name: name("add") }), [z, shortcut]);
      } else if (o.shortcut === "identity") {
        const shortcut = reshaped
          ? apply(conv(name("shortcut_conv"), filters, 1, stride, false), inputs)
          : inputs;
        z = apply(layers.add({ name: name("add") }), [z, shortcut]);
      }
      y = apply(layers.reLU({ name: name("out") }), z);
    }
  });
  y = apply(layers.globalAveragePooling2d({ name: LAYER_NAMES.pool }), y);
  const limit = 1 / Math.sqrt(o.widths.at(-1)!);
  const uniform = () =>
    initializers.randomUniform({ minval: -limit, maxval: limit, seed: o.seed + k++ });
  y = apply(
    layers.dense({
      name: LAYER_NAMES.logits,
      units: o.numClasses,
      kernelInitializer: uniform(),
      biasInitializer: uniform(),
    }),
    y,
  );
  return model({ inputs: x, outputs: y, name: `no_norm_resnet_${o.shortcut}` });
}
