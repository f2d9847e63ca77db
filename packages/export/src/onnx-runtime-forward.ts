// A tfjs model's inference as one ONNX Runtime session: the whole graph at once, its
// BatchNorms folded into the convolutions and the activations kept in ONNX Runtime's blocked
// (NCHWc) layout from the first convolution to the last. tfjs runs a model kernel by kernel,
// and each convolution it hands to ONNX Runtime (@cnnkit/backends) pays for a copy in, a
// reorder into the blocked layout and back, and a copy out; here those happen once per batch.
// On 2 AVX-512 cores SmallResNet's inference ran 1.6-1.9x, the narrow net's ~4x faster than
// tfjs's (wasm with ONNX Runtime convolutions), 1.08-1.13x and 1.4-1.5x PyTorch's (`pnpm bench`
// in packages/train, its `graph` column; docs/performance.md).
//
// The session holds a copy of the weights as they were when it was made: a model that trains
// on needs a new one (the trainer makes one per evaluation; it takes ~0.1-0.3 s).
import os from "node:os";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { ExportError } from "./errors.js";
import { exportOnnxAsync } from "./onnx-export.js";
import { importOnnxRuntime, type OrtSession } from "./runner.js";
import { type TTALevel, ttaLogitsAsync } from "./test-time-augmentation.js";

export interface OnnxRuntimeForwardOptions {
  /**
   * ONNX Runtime's threads for the session (its intra-op pool). Defaults to
   * `os.availableParallelism()`. While a batch runs they spin between operators (15% faster on
   * the narrow net than sleeping); they sleep once the call returns.
   */
  threads?: number;
}

/** A model's forward pass as one ONNX Runtime session (see {@link onnxRuntimeForward}). */
export interface OnnxRuntimeForward {
  /** The session's threads. */
  readonly threads: number;
  /** How many BatchNormalization layers were folded into the convolution before them. */
  readonly foldedBatchNorms: number;
  /** Logits of `count` preprocessed images laid out NHWC in `inputs` (`count × classes` floats). */
  run(inputs: Float32Array, count: number): Promise<Float32Array>;
  /**
   * Logits of the NHWC batch `x` as a new tensor on the current tfjs backend, averaged over the
   * views of test-time augmentation `tta` (`ttaLogits`'s levels; default 0). `x` is kept.
   */
  logits(x: tf.Tensor4D, tta?: TTALevel): Promise<tf.Tensor2D>;
  /** Releases the session (its weights and buffers). Calls after it throw. */
  dispose(): Promise<void>;
}

/**
 * Compiles `model` (a tfjs LayersModel of the layers {@link SUPPORTED_LAYERS} names: plain
 * `tf.layers` Conv2D, BatchNormalization, ReLU, Dense, pooling, Add, and @cnnkit/resnet's
 * models) into one ONNX Runtime session for inference: BatchNorm with its moving statistics, as
 * `model.apply(x, { training: false })` computes, to float32 rounding (BatchNorm is folded into
 * the convolution's weights, so the logits differ from tfjs's in their last bits). Needs the
 * optional peer `onnxruntime-node`; a layer the exporter does not know is refused by name
 * (`ExportError` `onnx_unsupported`), never skipped.
 *
 * @example
 * const forward = await onnxRuntimeForward(model);
 * const logits = await forward.logits(batch); // tf.Tensor2D, like model.predict(batch)
 * await forward.dispose();
 */
export async function onnxRuntimeForward(
  model: LayersModel,
  options: OnnxRuntimeForwardOptions = {},
): Promise<OnnxRuntimeForward> {
  const threads = options.threads ?? os.availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new ExportError(
      "invalid_option",
      `onnxRuntimeForward: expected options.threads to be a positive integer, got ${String(threads)}`,
    );
  }
  const inputShape = model.inputs[0]?.shape.slice(1) ?? [];
  if (inputShape.length !== 3 || inputShape.some((d) => d == null)) {
    throw new ExportError(
      "onnx_unsupported",
      `onnxRuntimeForward: model "${model.name}": expected one NHWC image input of a fixed size, got [${(model.inputs[0]?.shape ?? []).join(", ")}]`,
    );
  }
  const [height, width, channels] = inputShape as [number, number, number];
  const perImage = height * width * channels;
  // Read with await: a model on webgpu (or webgl) cannot be read synchronously.
  const onnx = await exportOnnxAsync(model);
  const ort = await importOnnxRuntime();
  let session: OrtSession | null;
  try {
    session = await ort.InferenceSession.create(onnx.bytes, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
  } catch (cause) {
    throw new ExportError(
      "corrupt_onnx",
      `onnxRuntimeForward: model "${model.name}": onnxruntime could not load its graph (${(cause as Error).message.split("\n")[0]})`,
      { cause },
    );
  }

  const run = async (inputs: Float32Array, count: number): Promise<Float32Array> => {
    if (session === null) {
      throw new ExportError("invalid_option", "onnxRuntimeForward: used after dispose()");
    }
    if (!Number.isSafeInteger(count) || count < 1 || inputs.length !== count * perImage) {
      throw new ExportError(
        "invalid_option",
        `onnxRuntimeForward: expected ${count} images of ${height}x${width}x${channels} (${count * perImage} floats), got ${inputs.length} floats`,
      );
    }
    const feeds = {
      [onnx.input]: new ort.Tensor("float32", inputs, [count, height, width, channels]),
    };
    const result = await session.run(feeds);
    const y = result[onnx.output];
    if (!y) {
      throw new ExportError(
        "corrupt_onnx",
        `onnxRuntimeForward: expected an output "${onnx.output}", got ${Object.keys(result).join(", ")}`,
      );
    }
    return y.data as Float32Array;
  };

  return {
    threads,
    foldedBatchNorms: onnx.foldedBatchNorms,
    run,
    async logits(x, tta = 0) {
      if (
        x.rank !== 4 ||
        x.shape[1] !== height ||
        x.shape[2] !== width ||
        x.shape[3] !== channels
      ) {
        throw new ExportError(
          "invalid_option",
          `onnxRuntimeForward: expected an NHWC batch [N, ${height}, ${width}, ${channels}], got [${x.shape.join(", ")}]`,
        );
      }
      const n = x.shape[0];
      const inputs = (await x.data()) as Float32Array;
      // `data()` may hand back the backend's own array (cpu): ORT only reads it.
      const out = await ttaLogitsAsync(run, inputs, [n, height, width, channels], tta);
      return tf.tensor2d(out, [n, out.length / n], "float32");
    },
    async dispose() {
      const s = session;
      session = null;
      await s?.release();
    },
  };
}
