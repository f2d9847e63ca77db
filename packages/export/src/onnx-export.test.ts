import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { randomImages, randomizeWeights, tinyResNet } from "./__fixtures__/tiny-resnet.js";
import { ExportError } from "./errors.js";
import { normalizePixels } from "./image.js";
import { exportOnnx } from "./onnx-export.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const stats = {
  input: {
    shape: [32, 32, 3] as [number, number, number],
    layout: "NHWC" as const,
    dtype: "float32" as const,
    channelOrder: "RGB" as const,
  },
  normalization: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  preprocessing: {
    resize: "stretch" as const,
    filter: "area-bilinear" as const,
    pixelScale: 255,
    steps: [],
  },
};

/** Runs `bytes` in onnxruntime on NHWC `inputs` and returns the output. */
async function runOnnx(
  bytes: Uint8Array,
  inputs: Float32Array,
  shape: number[],
): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ input: new ort.Tensor("float32", inputs, shape) });
    return out.logits?.data as Float32Array;
  } finally {
    await session.release();
  }
}

function tfjsLogits(model: tfl.LayersModel, inputs: Float32Array, shape: number[]): Float32Array {
  return tf.tidy(
    () => (model.predict(tf.tensor(inputs, shape)) as tf.Tensor).dataSync() as Float32Array,
  );
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);
}

describe("exportOnnx", () => {
  it("converts a ResNet with BN folded and matches tfjs logits in onnxruntime", async () => {
    const model = tinyResNet();
    const before = tf.memory().numTensors;
    const onnx = exportOnnx(model);
    expect(tf.memory().numTensors).toBe(before);
    // stem, 2 convs per block and the projection shortcut: 6 BNs, every one after a conv.
    expect(onnx.foldedBatchNorms).toBe(6);
    const n = 4;
    const inputs = normalizePixels(randomImages(n), stats);
    const expected = tfjsLogits(model, inputs, [n, 32, 32, 3]);
    const got = await runOnnx(onnx.bytes, inputs, [n, 32, 32, 3]);
    expect(got.length).toBe(n * 10);
    // float32 with a different summation order (and BN folded): 1e-4 absolute on O(1) logits.
    expect(maxAbsDiff(got, expected)).toBeLessThan(1e-4);
    // The logits are not trivially small, so the bound above means something.
    expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(0.05);
    model.dispose();
  });

  it("keeps BatchNormalization as its own node when folding is off", async () => {
    const model = tinyResNet({ seed: 3 });
    const onnx = exportOnnx(model, { foldBatchNorm: false });
    expect(onnx.foldedBatchNorms).toBe(0);
    const inputs = normalizePixels(randomImages(2, 32, 9), stats);
    const diff = maxAbsDiff(
      await runOnnx(onnx.bytes, inputs, [2, 32, 32, 3]),
      tfjsLogits(model, inputs, [2, 32, 32, 3]),
    );
    expect(diff).toBeLessThan(1e-4);
    model.dispose();
  });

  it("handles a Sequential model with pooling, Flatten, Dropout and activations", async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.zeroPadding2d({
          inputShape: [9, 9, 2],
          padding: [
            [0, 1],
            [1, 2],
          ],
          name: "zp_then_conv",
        }),
        tfl.layers.conv2d({
          filters: 3,
          kernelSize: 3,
          strides: 2,
          padding: "same",
          activation: "relu",
          name: "c1",
        }),
        tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: "same", name: "mp" }),
        tfl.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: "same", name: "ap" }),
        // Not before a pool: onnxruntime's Pad→MaxPool fusion rejects pads as large as the kernel.
        tfl.layers.zeroPadding2d({
          padding: [
            [1, 0],
            [2, 1],
          ],
          name: "zp_then_bn",
        }),
        tfl.layers.batchNormalization({ name: "bn_after_pool" }),
        tfl.layers.flatten({ name: "flat" }),
        tfl.layers.dropout({ rate: 0.5, name: "drop" }),
        tfl.layers.dense({ units: 5, activation: "tanh", name: "d1" }),
        tfl.layers.activation({ activation: "softmax", name: "probs" }),
      ],
    });
    randomizeWeights(model, 5);
    const onnx = exportOnnx(model);
    const inputs = Float32Array.from({ length: 3 * 9 * 9 * 2 }, (_, i) => Math.sin(i));
    const diff = maxAbsDiff(
      await runOnnx(onnx.bytes, inputs, [3, 9, 9, 2]),
      tfjsLogits(model, inputs, [3, 9, 9, 2]),
    );
    expect(diff).toBeLessThan(1e-5);
    model.dispose();
  });

  it("gives an image-shaped output back in NHWC, like the input", async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({
          inputShape: [5, 4, 2],
          filters: 3,
          kernelSize: 2,
          padding: "valid",
          name: "features",
        }),
      ],
    });
    randomizeWeights(model, 8);
    const inputs = Float32Array.from({ length: 5 * 4 * 2 }, (_, i) => Math.cos(i));
    const got = await runOnnx(exportOnnx(model).bytes, inputs, [1, 5, 4, 2]);
    expect(maxAbsDiff(got, tfjsLogits(model, inputs, [1, 5, 4, 2]))).toBeLessThan(1e-5);
    model.dispose();
  });

  it("refuses an unknown layer, naming it and its class", () => {
    const input = tfl.input({ shape: [8, 8, 3] });
    const up = tfl.layers
      .upSampling2d({ size: [2, 2], name: "my_upsample" })
      .apply(input) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(up) as tfl.SymbolicTensor;
    const model = tfl.model({
      inputs: input,
      outputs: tfl.layers.dense({ units: 2 }).apply(pooled) as tfl.SymbolicTensor,
    });
    expect(() => exportOnnx(model)).toThrow(ExportError);
    expect(() => exportOnnx(model)).toThrow(
      /layer "my_upsample" \(UpSampling2D\): no ONNX conversion/,
    );
    model.dispose();
  });

  it("refuses an activation ONNX cannot express here, naming the layer", () => {
    const model = tfl.sequential({
      layers: [tfl.layers.dense({ inputShape: [4], units: 2, activation: "selu", name: "odd" })],
    });
    expect(() => exportOnnx(model)).toThrow(/layer "odd": activation "selu" is not supported/);
    model.dispose();
  });
});
