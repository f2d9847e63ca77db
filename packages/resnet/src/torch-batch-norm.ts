// BatchNormalization that updates its moving variance the way PyTorch (and Keras on
// TensorFlow) do: with the unbiased batch variance, var * n / (n - 1). tfjs-layers uses the
// biased one, which makes moving variances drift low (by 1/(n-1): 0.8% at batch 2 on an
// 8x8 map) and breaks parity with a PyTorch-trained network's statistics.
//
// It serialises as the built-in "BatchNormalization" (same className and config), so a saved
// model loads in plain tfjs with no cnnkit code registered; inference is identical, only
// further training of such a reloaded model uses tfjs's biased update. It is never
// registered with tfjs's serialization map, so the built-in class stays what tfjs loads.
import * as tf from "@tensorflow/tfjs-core";
import { type LayerVariable, layers } from "@tensorflow/tfjs-layers";
import type { Shape } from "@tensorflow/tfjs-layers/dist/keras_format/common.js";
import type {
  BatchNormalization,
  BatchNormalizationLayerArgs,
} from "@tensorflow/tfjs-layers/dist/layers/normalization.js";
import { freezeWeights } from "./frozen-weights.js";
import {
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  type BatchNormTrainingAttrs,
  type BatchNormTrainingGradInputs,
  type BatchNormTrainingInputs,
} from "./kernel-names.js";

/** Arguments of {@link torchBatchNorm}: tfjs's own, plus the variance update to use. */
export interface TorchBatchNormArgs extends BatchNormalizationLayerArgs {
  /** Update the moving variance with the unbiased batch variance, as PyTorch does. */
  unbiasedMovingVariance: boolean;
  /**
   * `false` keeps gamma a weight of ones (its initialiser's values) that no gradient step sees,
   * as airbench's `BatchNorm(weight=False)`: it stays out of `trainableWeights` even when
   * `layer.trainable` or `model.trainable` is set to `true`, and the fused training kernel
   * still runs (it takes gamma as an input). `layer.weights` keeps tfjs's order
   * `[gamma, beta, moving_mean, moving_variance]`. Not saved: a model reloaded in plain tfjs
   * has a trainable gamma (inference is the same). Defaults to `true`.
   */
  trainableScale?: boolean;
}

type BatchNormalizationClass = new (args: TorchBatchNormArgs) => BatchNormalization;

let torchBatchNormClass: BatchNormalizationClass | undefined;

/** Creates the class on first use: tfjs-layers exports the factory, not the class itself. */
function getTorchBatchNormClass(): BatchNormalizationClass {
  if (torchBatchNormClass !== undefined) return torchBatchNormClass;
  const Base = Object.getPrototypeOf(layers.batchNormalization({ name: "cnnkit_probe_bn" }))
    .constructor as typeof BatchNormalization;

  class TorchBatchNormalization extends Base {
    // The built-in name, so toJSON()/save() produce a model plain tfjs loads.
    static override className = "BatchNormalization";
    private readonly unbiasedVariance: boolean;
    private readonly bnEpsilon: number;
    private readonly bnMomentum: number;
    private readonly bnAxis: number;
    private readonly scaleAndCenter: boolean;
    private readonly trainableScale: boolean;
    /** gamma, beta, moving mean, moving variance (those that exist), once built. */
    private buildOrder: LayerVariable[] | undefined;

    constructor(args: TorchBatchNormArgs) {
      const { unbiasedMovingVariance, trainableScale = true, ...rest } = args;
      super(rest);
      this.unbiasedVariance = unbiasedMovingVariance;
      this.trainableScale = trainableScale;
      this.bnEpsilon = rest.epsilon ?? 1e-3;
      this.bnMomentum = rest.momentum ?? 0.99;
      this.bnAxis = rest.axis ?? -1;
      this.scaleAndCenter = (rest.scale ?? true) && (rest.center ?? true);
    }

    override build(inputShape: Shape | Shape[]): void {
      super.build(inputShape);
      const gamma = this.ownWeight("gamma");
      this.buildOrder = freezeWeights(
        this,
        this.trainableScale || gamma === undefined ? [] : [gamma],
      );
    }

    override get weights(): LayerVariable[] {
      return this.buildOrder ?? super.weights;
    }

    /** One of the weights tfjs's build() creates (private there), trainable or not. */
    private ownWeight(
      name: "gamma" | "beta" | "movingMean" | "movingVariance",
    ): LayerVariable | undefined {
      return (this as unknown as Partial<Record<typeof name, LayerVariable>>)[name];
    }

    override call(
      inputs: tf.Tensor | tf.Tensor[],
      kwargs: { [key: string]: unknown },
    ): tf.Tensor | tf.Tensor[] {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const lastAxis = x === undefined ? -1 : x.rank - 1;
      const channelsLast = this.bnAxis === -1 || this.bnAxis === lastAxis;
      // The layer's own weights, not trainableWeights: a frozen gamma (or a frozen layer, which
      // tfjs still normalises with batch statistics in training) keeps PyTorch's update.
      const gamma = this.ownWeight("gamma");
      const beta = this.ownWeight("beta");
      if (
        kwargs.training !== true ||
        !this.scaleAndCenter ||
        x === undefined ||
        !channelsLast ||
        gamma === undefined ||
        beta === undefined
      ) {
        return super.call(inputs, kwargs);
      }
      return tf.tidy(() => {
        const movingMean = this.ownWeight("movingMean");
        const movingVariance = this.ownWeight("movingVariance");
        const {
          y: out,
          mean,
          variance,
        } = batchNormTraining(x, gamma.read(), beta.read(), this.bnEpsilon);
        const n = x.size / x.shape[lastAxis]!;
        const unbiased = n > 1 && this.unbiasedVariance ? tf.mul(variance, n / (n - 1)) : variance;
        // new = old * momentum + batch * (1 - momentum), as tfjs writes it.
        const decay = 1 - this.bnMomentum;
        for (const [stat, value] of [
          [movingMean, mean],
          [movingVariance, unbiased],
        ] as const) {
          if (stat === undefined) continue;
          const old = stat.read();
          stat.write(tf.sub(old, tf.mul(tf.sub(old, value), decay)));
        }
        return out;
      });
    }
  }
  torchBatchNormClass = TorchBatchNormalization;
  return TorchBatchNormalization;
}

/**
 * Fused kernels a backend may register (`@cnnkit/backends` does for cpu and wasm):
 * `x, gamma, beta → y, mean, variance` and `dy, x, mean, variance, gamma → dx, dgamma, dbeta`,
 * both with attrs `{ epsilon }` (their contracts: `@cnnkit/resnet/kernel-names`). Without them
 * the same formulas run as ordinary tfjs ops.
 */
export const BATCH_NORM_TRAINING_KERNELS = {
  forward: BATCH_NORM_TRAINING,
  gradient: BATCH_NORM_TRAINING_GRAD,
} as const;

function hasFusedKernels(): boolean {
  const backend = tf.getBackend();
  return (
    tf.getKernel(BATCH_NORM_TRAINING, backend) !== undefined &&
    tf.getKernel(BATCH_NORM_TRAINING_GRAD, backend) !== undefined
  );
}

/**
 * Training-mode batch normalisation over every axis but the last, with its gradient written out
 * in closed form instead of left to autodiff. Autodiff differentiates `moments` and `batchNorm`
 * op by op (Tile, Sum, Mean, Multiply, Sub, ... about 30 kernels per layer); on the CPU
 * backends these small passes over the activations were half of a narrow ResNet's training step
 * (`pnpm --filter @cnnkit/backends bench:profile`). With x̂ = (x - mean) / sqrt(var + eps) and
 * M values per channel, the standard result is
 *
 *   dbeta = Σ dy,   dgamma = Σ dy·x̂,   dx = gamma / sqrt(var + eps) · (dy - dbeta/M - x̂·dgamma/M)
 *
 * (the same formula PyTorch's native kernel uses). `mean` and `variance` (biased) come back for
 * the moving statistics and carry no gradient.
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const axes = [...Array(x.rank - 1).keys()];
  const count = x.size / (x.shape[x.rank - 1] as number);
  let mean: tf.Tensor | undefined;
  let variance: tf.Tensor | undefined;
  const fused = tf.customGrad((...args: (tf.Tensor | ((saved: tf.Tensor[]) => void))[]) => {
    const [xIn, g, b] = args as [tf.Tensor, tf.Tensor, tf.Tensor];
    const save = args[3] as (saved: tf.Tensor[]) => void;
    const attrs: BatchNormTrainingAttrs = { epsilon };
    const inputs: BatchNormTrainingInputs<tf.Tensor> = { x: xIn, gamma: g, beta: b };
    const [y, m, v] = tf.engine().runKernel(BATCH_NORM_TRAINING, inputs, attrs) as tf.Tensor[];
    mean = tf.keep(m as tf.Tensor);
    variance = tf.keep(v as tf.Tensor);
    save([xIn, mean, variance, g]);
    return {
      value: y as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, mu, va, gs] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const gradInputs: BatchNormTrainingGradInputs<tf.Tensor> = {
          dy,
          x: xs,
          mean: mu,
          variance: va,
          gamma: gs,
        };
        return tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD, gradInputs, attrs) as tf.Tensor[];
      },
    };
  });
  const f = tf.customGrad((...args: (tf.Tensor | ((saved: tf.Tensor[]) => void))[]) => {
    const [xIn, g, b] = args as [tf.Tensor, tf.Tensor, tf.Tensor];
    const save = args[3] as (saved: tf.Tensor[]) => void;
    const moments = tf.moments(xIn, axes);
    // customGrad runs f inside a tidy that keeps only `value`: keep the statistics past it.
    mean = tf.keep(moments.mean);
    variance = tf.keep(moments.variance);
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    save([xIn, mean, invStd, g]);
    return {
      value: tf.batchNorm(xIn, mean, variance, b, g, epsilon),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, mu, inv, gs] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const xHat = tf.mul(tf.sub(xs, mu), inv);
        const dBeta = tf.sum(dy, axes);
        const dGamma = tf.sum(tf.mul(dy, xHat), axes);
        const centred = tf.sub(
          tf.sub(dy, tf.div(dBeta, count)),
          tf.mul(xHat, tf.div(dGamma, count)),
        );
        return [tf.mul(centred, tf.mul(gs, inv)), dGamma, dBeta];
      },
    };
  });
  const y = (hasFusedKernels() ? fused : f)(x, gamma, beta);
  const kept = [mean, variance] as [tf.Tensor, tf.Tensor];
  // Clones (no copy) belong to the caller's scope like any op's result; the kept originals go.
  const result = { y, mean: tf.clone(kept[0]), variance: tf.clone(kept[1]) };
  tf.dispose(kept);
  return result;
}

/** A channels-last BatchNormalization layer whose moving statistics follow PyTorch. */
export function torchBatchNorm(args: TorchBatchNormArgs): BatchNormalization {
  const TorchBatchNormalization = getTorchBatchNormClass();
  return new TorchBatchNormalization(args);
}
