// Test helper: a tiny ResNet with the @cnnkit/resnet layer names (stem, one identity block, one
// projection block, pool, logits) and seeded, non-trivial weights, BatchNorm statistics
// included, so BN folding and every converter path are exercised. Not published.
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";

/** mulberry32: a tiny seeded PRNG so every run builds the same weights. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TinyResNetOptions {
  /** Input side. Defaults to 32. */
  size?: number;
  /** Stem width. Defaults to 4. */
  width?: number;
  /** Classes. Defaults to 10. */
  classes?: number;
  /** Weight seed. Defaults to 1. */
  seed?: number;
}

export function tinyResNet(options: TinyResNetOptions = {}): tfl.LayersModel {
  const size = options.size ?? 32;
  const width = options.width ?? 4;
  const classes = options.classes ?? 10;
  const conv = (filters: number, kernelSize: number, strides: number, name: string) =>
    tfl.layers.conv2d({ filters, kernelSize, strides, padding: "same", useBias: false, name });
  const bn = (name: string) => tfl.layers.batchNormalization({ name });
  const relu = (name: string) => tfl.layers.reLU({ name });

  const input = tfl.input({ shape: [size, size, 3], name: "input" });
  let x = relu("stem_relu").apply(bn("stem_bn").apply(conv(width, 3, 1, "stem_conv").apply(input))) as tfl.SymbolicTensor;
  const block = (s: number, filters: number, strides: number) => {
    const p = `stage${s}_block1`;
    let y = relu(`${p}_relu1`).apply(bn(`${p}_bn1`).apply(conv(filters, 3, strides, `${p}_conv1`).apply(x))) as tfl.SymbolicTensor;
    y = bn(`${p}_bn2`).apply(conv(filters, 3, 1, `${p}_conv2`).apply(y)) as tfl.SymbolicTensor;
    let shortcut = x;
    if (strides !== 1 || filters !== x.shape[3]) {
      shortcut = bn(`${p}_shortcut_bn`).apply(conv(filters, 1, strides, `${p}_shortcut_conv`).apply(x)) as tfl.SymbolicTensor;
    }
    const sum = tfl.layers.add({ name: `${p}_add` }).apply([y, shortcut]) as tfl.SymbolicTensor;
    x = relu(`${p}_out`).apply(sum) as tfl.SymbolicTensor;
  };
  block(1, width, 1);
  block(2, width * 2, 2);
  const pooled = tfl.layers.globalAveragePooling2d({ name: "pool" }).apply(x);
  const logits = tfl.layers.dense({ units: classes, name: "logits" }).apply(pooled) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: logits, name: "tiny_resnet" });
  randomizeWeights(model, options.seed ?? 1);
  return model;
}

/** Seeded weights, with BN statistics far from the identity so folding errors would show. */
export function randomizeWeights(model: tfl.LayersModel, seed: number): void {
  const rand = seeded(seed);
  for (const layer of model.layers) {
    const weights = layer.getWeights();
    if (weights.length === 0) continue;
    const fresh = weights.map((w, i) => {
      const n = w.size;
      const values = new Float32Array(n);
      const role = layer.weights[i]?.originalName.split("/").pop() ?? "";
      for (let k = 0; k < n; k++) {
        const r = rand();
        if (role.startsWith("moving_variance")) values[k] = 0.5 + r;
        else if (role.startsWith("gamma")) values[k] = 0.5 + r;
        else if (role.startsWith("moving_mean") || role.startsWith("beta")) values[k] = r - 0.5;
        else values[k] = (r - 0.5) * (2 / Math.sqrt(n / (w.shape.at(-1) ?? 1)));
      }
      return tf.tensor(values, w.shape);
    });
    layer.setWeights(fresh);
    tf.dispose(fresh);
  }
}

/** `n` seeded uint8 NHWC images of `size`×`size`×3. */
export function randomImages(n: number, size = 32, seed = 7): Uint8Array {
  const rand = seeded(seed);
  return Uint8Array.from({ length: n * size * size * 3 }, () => Math.floor(rand() * 256));
}
