// The fast CIFAR-10 recipe's hyperparameters (airbench's "per 1024 examples, decoupled") turned into
// the SGD options that train the same way.
import { OptimError } from "./errors.js";
import { batchNormBiases, type ParamGroup } from "./param-groups.js";
import { checkNumber, checkOptions, describe } from "./validate.js";

/** Options of {@link decoupledSGD}: airbench's numbers, as its recipe states them. */
export interface DecoupledSGDOptions {
  /** Learning rate per 1024 examples, decoupled from the momentum (airbench94: 11.5). Required. */
  lr: number;
  /** Weight decay per 1024 examples, decoupled from the learning rate (airbench94: 0.0153). Defaults to 0. */
  weightDecay?: number;
  /** Nesterov momentum. Defaults to 0.85 (airbench94's). */
  momentum?: number;
  /** Examples per optimizer step (the loader's batch size). Required. */
  batchSize: number;
  /** Learning-rate multiplier of the BatchNorm biases ({@link batchNormBiases}; airbench94: 64). Defaults to 1 (no group). */
  biasLrScale?: number;
  /**
   * How the loss reduces over the batch: `"mean"` (the trainer's, tfjs's and PyTorch's default)
   * or `"sum"` (airbench's). Defaults to `"mean"`.
   */
  reduction?: "mean" | "sum";
}

/** The SGD options {@link decoupledSGD} returns: pass them to `new SGD(…)`. */
export interface DecoupledSGDSettings {
  /** The peak learning rate; a schedule sets `optimizer.learningRate` to it × its factor. */
  learningRate: number;
  momentum: number;
  nesterov: true;
  weightDecay: number;
  groups: ParamGroup[];
}

const KEYS = ["lr", "weightDecay", "momentum", "batchSize", "biasLrScale", "reduction"] as const;

/**
 * airbench's conversion to PyTorch SGD, for a `"mean"` (or `"sum"`) loss:
 *
 * ```
 * kilostep = 1024 · (1 + 1 / (1 − momentum))
 * lr_sum   = lr / kilostep                        (per example of a summed loss)
 * lr_mean  = lr_sum · batchSize                   (the same steps for a mean loss)
 * wd_abs   = weightDecay · batchSize / kilostep   (what lr · weight_decay must be each step)
 * each group's weight_decay = wd_abs / (its lr)   (the same decay per step in every group)
 * ```
 *
 * A schedule that then scales `learningRate` by a factor scales both the steps and the decay by
 * it, as PyTorch's LambdaLR does to each param group.
 */
export function decoupledSGD(options: DecoupledSGDOptions): DecoupledSGDSettings {
  const o = checkOptions("decoupledSGD", options, KEYS);
  const lr = checkNumber("decoupledSGD", "lr", o.lr, { min: 0, minExclusive: true });
  const weightDecay = checkNumber("decoupledSGD", "weightDecay", o.weightDecay ?? 0, { min: 0 });
  const momentum = checkNumber("decoupledSGD", "momentum", o.momentum ?? 0.85, {
    min: 0,
    max: 1,
    minExclusive: true,
    maxExclusive: true,
  });
  const batchSize = checkNumber("decoupledSGD", "batchSize", o.batchSize, { min: 1 });
  if (!Number.isInteger(batchSize)) {
    throw new OptimError(
      "invalid_option",
      `decoupledSGD: expected batchSize to be an integer, got ${batchSize}`,
    );
  }
  const biasLrScale = checkNumber("decoupledSGD", "biasLrScale", o.biasLrScale ?? 1, {
    min: 0,
    minExclusive: true,
  });
  const reduction = o.reduction ?? "mean";
  if (reduction !== "mean" && reduction !== "sum") {
    throw new OptimError(
      "invalid_option",
      `decoupledSGD: expected reduction to be "mean" or "sum", got ${describe(reduction)}`,
    );
  }
  const kilostep = 1024 * (1 + 1 / (1 - momentum));
  const lrSum = lr / kilostep;
  const learningRate = reduction === "mean" ? lrSum * batchSize : lrSum;
  const wdAbs = (weightDecay * batchSize) / kilostep;
  return {
    learningRate,
    momentum,
    nesterov: true,
    weightDecay: wdAbs / learningRate,
    groups:
      biasLrScale === 1
        ? []
        : [
            {
              match: batchNormBiases,
              lrScale: biasLrScale,
              weightDecay: wdAbs / (learningRate * biasLrScale),
            },
          ],
  };
}
