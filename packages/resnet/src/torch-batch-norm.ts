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
import { layers } from "@tensorflow/tfjs-layers";
import type {
  BatchNormalization,
  BatchNormalizationLayerArgs,
} from "@tensorflow/tfjs-layers/dist/layers/normalization";

/** Arguments of {@link torchBatchNorm}: tfjs's own, plus the variance update to use. */
export interface TorchBatchNormArgs extends BatchNormalizationLayerArgs {
  /** Update the moving variance with the unbiased batch variance, as PyTorch does. */
  unbiasedMovingVariance: boolean;
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

    constructor(args: TorchBatchNormArgs) {
      const { unbiasedMovingVariance, ...rest } = args;
      super(rest);
      this.unbiasedVariance = unbiasedMovingVariance;
      this.bnEpsilon = rest.epsilon ?? 1e-3;
      this.bnMomentum = rest.momentum ?? 0.99;
      this.bnAxis = rest.axis ?? -1;
    }

    override call(
      inputs: tf.Tensor | tf.Tensor[],
      kwargs: { [key: string]: unknown },
    ): tf.Tensor | tf.Tensor[] {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const lastAxis = x === undefined ? -1 : x.rank - 1;
      const channelsLast = this.bnAxis === -1 || this.bnAxis === lastAxis;
      if (kwargs.training !== true || !this.unbiasedVariance || x === undefined || !channelsLast) {
        return super.call(inputs, kwargs);
      }
      return tf.tidy(() => {
        const [gamma, beta] = this.trainableWeights;
        const [movingMean, movingVariance] = this.nonTrainableWeights;
        const axes = [...Array(lastAxis).keys()];
        const { mean, variance } = tf.moments(x, axes);
        const out = tf.batchNorm(x, mean, variance, beta?.read(), gamma?.read(), this.bnEpsilon);
        const n = x.size / x.shape[lastAxis]!;
        const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
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

/** A channels-last BatchNormalization layer whose moving statistics follow PyTorch. */
export function torchBatchNorm(args: TorchBatchNormArgs): BatchNormalization {
  const TorchBatchNormalization = getTorchBatchNormClass();
  return new TorchBatchNormalization(args);
}
