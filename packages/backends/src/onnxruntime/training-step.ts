// A tfjs model's training step as one ONNX Runtime session (the graph: training-graph.ts), with
// the update left to tfjs: the gradients come back as tensors keyed by variable name, what
// `optimizer.applyGradients` takes, so `tf.train` optimizers and cnnkit's work unchanged.
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { BackendError } from "../errors.js";
import { availableThreads } from "../node-only.js";
import { loadOnnxRuntime, type NativeSession, type OnnxRuntimeModule } from "./load.js";
import { encodeOnnxModel } from "./onnx-model.js";
import { probeBlockSize } from "./probe-block-size.js";
import {
  type GraphModel,
  type GraphVariable,
  type TrainingGraph,
  TrainingGraphUnsupported,
  trainingGraph,
} from "./training-graph.js";

export interface OnnxRuntimeTrainingStepOptions {
  /** Images per step: the session's shapes are fixed (a smaller last batch needs its own step). */
  batchSize: number;
  /**
   * ONNX Runtime's threads for the step. Defaults to `os.availableParallelism()`. While the step
   * runs they spin between operators; they sleep once it returns.
   */
  threads?: number;
  /** Label smoothing ε of the cross-entropy: targets (1 − ε)·one-hot + ε/classes. Default 0. */
  labelSmoothing?: number;
}

/** One step's loss and gradients (see {@link OnnxRuntimeTrainingStep.gradients}). */
export interface TrainingStepGradients {
  /** The batch's mean softmax cross-entropy, computed before the update. */
  readonly loss: number;
  /** Images whose largest logit is their label's (the target's largest), in the same pass. */
  readonly correct: number;
  /** d loss / d variable for each trainable variable, keyed by the variable's name. */
  readonly grads: tf.NamedTensorMap;
}

/** A model's training step on ONNX Runtime (see {@link onnxRuntimeTrainingStep}). */
export interface OnnxRuntimeTrainingStep {
  readonly batchSize: number;
  readonly threads: number;
  /** MLAS's NCHWc block the activations are laid out in (8 with AVX2, 16 with AVX-512). */
  readonly blockSize: number;
  /** The trainable variables the step returns gradients for, by name. */
  readonly variables: readonly string[];
  /**
   * The loss and gradients of one batch: `x` NHWC images `[batchSize, H, W, C]`, `labels` class
   * indices `[batchSize]` or targets `[batchSize, classes]` (rows summing to 1). Updates every
   * BatchNormalization layer's moving mean and variance as tfjs's training forward pass does.
   * The caller owns (and disposes) the gradient tensors.
   */
  gradients(x: tf.Tensor, labels: tf.Tensor): Promise<TrainingStepGradients>;
  /** {@link gradients}, then `optimizer.applyGradients`; returns the loss. */
  step(optimizer: tf.Optimizer, x: tf.Tensor, labels: tf.Tensor): Promise<number>;
  /** Releases the session. Calls after it throw. */
  dispose(): void;
}

/** A tensor's values as float32: `data()` already returns a fresh array for float32 tensors. */
const float32 = (values: ArrayLike<number>): Float32Array =>
  values instanceof Float32Array ? values : Float32Array.from(values);

interface LayerVariableLike extends GraphVariable {
  read(): tf.Tensor;
  write(value: tf.Tensor): void;
}

interface NativeOutput {
  readonly data?: unknown;
}

/**
 * Compiles `model`'s training step — forward pass with batch statistics, softmax cross-entropy,
 * all gradients — into one ONNX Runtime session, its activations in ONNX Runtime's blocked
 * layout throughout. For small and mid-sized networks this removes what the layer-by-layer path
 * pays per kernel (tfjs's bookkeeping, copies into and out of ONNX Runtime, layout reorders):
 * see the package README for figures against that path and PyTorch.
 *
 * Layers: `tf.layers` Conv2D (any kernel and stride, same/valid, with or without bias, linear,
 * relu or gelu), BatchNormalization, ReLU, Activation (linear, relu, gelu), Add, ZeroPadding2D,
 * GlobalAveragePooling2D, MaxPooling2D (valid), Flatten (after pooling to one pixel), Dense,
 * Dropout (rate 0), Rescaling; @cnnkit/resnet's SmallResNet, CIFAR ResNets and fastResNet.
 * Anything else is refused by name (`BackendError` `unsupported_layer`). Needs
 * `onnxruntime-node` on x86-64 (its NCHWc kernels).
 *
 * The weights are read from the model on every call, so the step follows the optimizer's
 * updates, and a checkpoint restored into the model is what the next step trains.
 *
 * @example
 * const train = await onnxRuntimeTrainingStep(model, { batchSize: 64 });
 * const optimizer = tf.train.momentum(0.05, 0.9);
 * const loss = await train.step(optimizer, images, labels); // images [64, 32, 32, 3], labels [64]
 * train.dispose();
 */
export async function onnxRuntimeTrainingStep(
  model: LayersModel,
  options: OnnxRuntimeTrainingStepOptions,
): Promise<OnnxRuntimeTrainingStep> {
  const threads = options.threads ?? availableThreads();
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new BackendError(
      "invalid_option",
      `onnxRuntimeTrainingStep: expected options.threads to be a positive integer, got ${String(options.threads)}`,
    );
  }
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing < 1)) {
    throw new BackendError(
      "invalid_option",
      `onnxRuntimeTrainingStep: expected options.labelSmoothing in [0, 1), got ${String(options.labelSmoothing)}`,
    );
  }
  if (!Number.isSafeInteger(options.batchSize) || options.batchSize < 1) {
    throw new BackendError(
      "invalid_option",
      `onnxRuntimeTrainingStep: expected options.batchSize to be a positive integer, got ${String(options.batchSize)}`,
    );
  }
  const ort: OnnxRuntimeModule = loadOnnxRuntime();
  const blockSize = probeBlockSize(ort);
  let plan: TrainingGraph;
  try {
    plan = trainingGraph(model as unknown as GraphModel, {
      batchSize: options.batchSize,
      blockSize,
    });
  } catch (err) {
    if (err instanceof TrainingGraphUnsupported) {
      throw new BackendError("unsupported_layer", `onnxRuntimeTrainingStep: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  }
  const bytes = encodeOnnxModel(plan.graph);
  let session: NativeSession | null = ort.createSession();
  try {
    session.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      logSeverityLevel: 3,
    });
  } catch (cause) {
    throw new BackendError(
      "onnxruntime_unavailable",
      `onnxRuntimeTrainingStep: model "${model.name}": ONNX Runtime could not load its training graph (${String((cause as Error).message).split("\n")[0]})`,
      { cause },
    );
  }

  const [n, h, w, c] = plan.inputShape;
  const classes = plan.classes;
  const fetches: Record<string, null> = { loss: null, correct: null };
  for (const g of plan.gradients) fetches[g.output] = null;
  for (const s of plan.batchStatistics) {
    fetches[s.meanOutput] = null;
    fetches[s.varianceOutput] = null;
  }

  const targetsOf = async (labels: tf.Tensor): Promise<Float32Array> => {
    const values = await labels.data();
    if (labels.rank === 1 && labels.shape[0] === n) {
      const t = new Float32Array(n * classes).fill(smoothing / classes);
      for (let i = 0; i < n; i++) {
        const k = values[i] as number;
        if (!Number.isInteger(k) || k < 0 || k >= classes) {
          throw new BackendError(
            "invalid_option",
            `onnxRuntimeTrainingStep: label ${i} is ${k}, expected an integer class in [0, ${classes})`,
          );
        }
        t[i * classes + k] = (t[i * classes + k] as number) + 1 - smoothing;
      }
      return t;
    }
    if (labels.rank === 2 && labels.shape[0] === n && labels.shape[1] === classes) {
      const t = Float32Array.from(values as ArrayLike<number>);
      if (smoothing > 0)
        for (let i = 0; i < t.length; i++)
          t[i] = (t[i] as number) * (1 - smoothing) + smoothing / classes;
      return t;
    }
    throw new BackendError(
      "invalid_option",
      `onnxRuntimeTrainingStep: expected labels [${n}] (class indices) or [${n}, ${classes}] (targets), got [${labels.shape.join(", ")}]`,
    );
  };

  const gradients = async (x: tf.Tensor, labels: tf.Tensor): Promise<TrainingStepGradients> => {
    if (session === null) {
      throw new BackendError("invalid_option", "onnxRuntimeTrainingStep: used after dispose()");
    }
    if (
      x.rank !== 4 ||
      x.shape[0] !== n ||
      x.shape[1] !== h ||
      x.shape[2] !== w ||
      x.shape[3] !== c
    ) {
      throw new BackendError(
        "invalid_option",
        `onnxRuntimeTrainingStep: expected images [${n}, ${h}, ${w}, ${c}] (the batch size it was compiled for), got [${x.shape.join(", ")}]`,
      );
    }
    const feeds: Record<string, unknown> = {
      x: new ort.Tensor("float32", float32(await x.data()), [n, h, w, c]),
      targets: new ort.Tensor("float32", await targetsOf(labels), [n, classes]),
    };
    const read = await Promise.all(
      plan.weights.map(async (f) => {
        return float32(await (f.variable as LayerVariableLike).read().data());
      }),
    );
    plan.weights.forEach((f, i) => {
      feeds[f.input] = new ort.Tensor("float32", read[i] as Float32Array, f.variable.shape);
    });
    const out = session.run(feeds, fetches, {}) as Record<string, NativeOutput>;
    const data = (name: string): Float32Array => {
      const d = out[name]?.data;
      if (!(d instanceof Float32Array)) {
        throw new BackendError(
          "onnxruntime_unavailable",
          `onnxRuntimeTrainingStep: output "${name}" is missing`,
        );
      }
      return d;
    };
    const loss = data("loss")[0] as number;
    const correct = data("correct")[0] as number;
    const grads: tf.NamedTensorMap = {};
    for (const g of plan.gradients)
      grads[g.variable.name] = tf.tensor(data(g.output), [...g.variable.shape]);
    // Moving statistics, as tfjs-layers' BatchNormalization updates them in training:
    // new = old − (old − batch)·(1 − momentum); cnnkit's torchBatchNorm may use the unbiased
    // batch variance (its `unbiasedMovingVariance`).
    tf.tidy(() => {
      for (const s of plan.batchStatistics) {
        const cfg = s.layer.getConfig();
        const decay = 1 - (cfg.momentum as number);
        const unbiased =
          (s.layer as unknown as { unbiasedVariance?: boolean }).unbiasedVariance === true &&
          s.count > 1;
        const batchVar = data(s.varianceOutput);
        const variance = unbiased ? batchVar.map((v) => (v * s.count) / (s.count - 1)) : batchVar;
        for (const [stat, value] of [
          [s.movingMean, data(s.meanOutput)],
          [s.movingVariance, variance],
        ] as const) {
          if (!stat) continue;
          const v = stat as LayerVariableLike;
          const old = v.read();
          v.write(tf.sub(old, tf.mul(tf.sub(old, tf.tensor(value, old.shape)), decay)));
        }
      }
    });
    return { loss, correct, grads };
  };

  return {
    batchSize: n,
    threads,
    blockSize,
    variables: plan.gradients.map((g) => g.variable.name),
    gradients,
    async step(optimizer, x, labels) {
      const { loss, grads } = await gradients(x, labels);
      try {
        optimizer.applyGradients(grads);
      } finally {
        tf.dispose(grads);
      }
      return loss;
    },
    dispose() {
      session?.dispose?.();
      session = null;
    },
  };
}
