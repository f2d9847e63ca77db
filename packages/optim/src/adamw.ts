// AdamW with PyTorch's semantics (torch.optim.AdamW, 1.13), with lr and beta1 a schedule can set.
import {
  add,
  div,
  engine,
  mul,
  serialization,
  sqrt,
  square,
  sub,
  type Tensor,
  type Variable,
  zerosLike,
} from "@tensorflow/tfjs-core";
import type { DecayFilter } from "./decay-filter.js";
import { canFuse } from "./fused-kernels.js";
import { ADAMW_UPDATE, type AdamWUpdateAttrs, type AdamWUpdateInputs } from "./kernel-names.js";
import { type ParamGroup, type ResolvedParamGroup, resolveParamGroups } from "./param-groups.js";
import { SlotOptimizer } from "./slot-optimizer.js";
import { checkNumber, checkOptions } from "./validate.js";

/** Options of {@link AdamW}; the defaults are PyTorch's. */
export interface AdamWOptions {
  /** Step size; set `learningRate` every step to follow a schedule. Defaults to 1e-3. */
  learningRate?: number;
  /** Decay of the first-moment average (the "momentum" OneCycleLR cycles). Defaults to 0.9. */
  beta1?: number;
  /** Decay of the second-moment average. Defaults to 0.999. */
  beta2?: number;
  /** Added to the bias-corrected sqrt of the second moment (outside the sqrt). Defaults to 1e-8. */
  epsilon?: number;
  /** Decoupled weight decay: each step multiplies a weight by (1 − lr × weightDecay). Defaults to 1e-2. */
  weightDecay?: number;
  /** Which variables get weight decay (e.g. {@link decayKernelsOnly}). Defaults to all of them. */
  decayFilter?: DecayFilter;
  /**
   * Parameter groups with their own learning-rate scale and (decoupled) weight decay, as
   * PyTorch's param_groups; first match wins. Defaults to none: every variable uses the settings above.
   */
  groups?: readonly ParamGroup[];
}

const ADAMW_KEYS = [
  "learningRate",
  "beta1",
  "beta2",
  "epsilon",
  "weightDecay",
  "decayFilter",
  "groups",
] as const;

/** {@link AdamWOptions} with defaults applied and checked. */
export interface ResolvedAdamWOptions {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  decayFilter: DecayFilter | undefined;
  groups: ResolvedParamGroup[];
}

export function resolveAdamWOptions(options: AdamWOptions = {}): ResolvedAdamWOptions {
  const o = checkOptions("AdamW", options, ADAMW_KEYS);
  return {
    learningRate: checkNumber("AdamW", "learningRate", o.learningRate ?? 1e-3, { min: 0 }),
    beta1: checkNumber("AdamW", "beta1", o.beta1 ?? 0.9, { min: 0, max: 1, maxExclusive: true }),
    beta2: checkNumber("AdamW", "beta2", o.beta2 ?? 0.999, { min: 0, max: 1, maxExclusive: true }),
    epsilon: checkNumber("AdamW", "epsilon", o.epsilon ?? 1e-8, { min: 0 }),
    weightDecay: checkNumber("AdamW", "weightDecay", o.weightDecay ?? 1e-2, { min: 0 }),
    decayFilter: o.decayFilter,
    groups: resolveParamGroups("AdamW", o.groups),
  };
}

/**
 * Adam with decoupled weight decay, step for step as PyTorch computes it:
 *
 * ```
 * p ← p · (1 − lr·wd)                       (only for variables the decayFilter accepts)
 * m ← β1·m + (1 − β1)·g;   v ← β2·v + (1 − β2)·g²
 * p ← p − lr / (1 − β1^t) · m / (√v / √(1 − β2^t) + ε)
 * ```
 *
 * `lr` and `wd` are the variable's group's where a group matches it (`learningRate × lrScale`
 * and the group's weightDecay). `t` counts this variable's updates. Bias correction uses the
 * *current* β1 (`1 − β1^t`), as PyTorch does, even when a schedule changes β1 every step. That
 * is not the exact correction of an average with varying decay (that would be `1 − Π β1_i`,
 * what tfjs's Adam accumulates), but the two differ only while `β1^t` is not yet negligible
 * (roughly the first hundred steps at β1 ≈ 0.9), OneCycleLR recipes were tuned with PyTorch's
 * choice, and matching it is what makes ported runs agree.
 */
export class AdamW extends SlotOptimizer {
  static get className(): string {
    return "cnnkit.AdamW";
  }

  #beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  protected readonly slotNames = ["m", "v"] as const;

  constructor(options: AdamWOptions = {}) {
    const o = resolveAdamWOptions(options);
    super("AdamW", o);
    this.#beta1 = o.beta1;
    this.beta2 = o.beta2;
    this.epsilon = o.epsilon;
  }

  /** β1 of the next step; OneCycleLR's `momentum` goes here. */
  get beta1(): number {
    return this.#beta1;
  }

  set beta1(value: number) {
    this.#beta1 = checkNumber("AdamW", "beta1", value, { min: 0, max: 1, maxExclusive: true });
  }

  protected updateVariable(name: string, value: Variable, gradient: Tensor, step: number): void {
    const { learningRate: lr, weightDecay: wd } = this.hyperparametersFor(name);
    const beta1 = this.#beta1;
    const beta2 = this.beta2;
    const m = this.getSlot(name, "m") ?? this.setSlot(name, "m", zerosLike(value));
    const v = this.getSlot(name, "v") ?? this.setSlot(name, "v", zerosLike(value));

    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2 = 1 - beta2 ** step;
    const stepSize = lr / biasCorrection1;
    // value ← value·decay − stepSize · m' / (sqrt(v') / sqrtBias2 + ε), with
    // m' = β1·m + (1−β1)·g and v' = β2·v + (1−β2)·g²: PyTorch's AdamW step.
    const decay = 1 - lr * wd;
    const sqrtBias2 = Math.sqrt(biasCorrection2);
    // One kernel instead of ~14 ops where the backend has it (kernel-names.ts): on the CPU
    // backends the ops' per-call costs were the update's cost (658 kernels per step for a
    // 47-variable SmallResNet).
    if (canFuse(ADAMW_UPDATE, [value, gradient, m, v])) {
      const inputs: AdamWUpdateInputs<Tensor> = { value, gradient, m, v };
      const attrs: AdamWUpdateAttrs = {
        beta1,
        beta2,
        epsilon: this.epsilon,
        decay,
        stepSize,
        sqrtBias2,
      };
      const [next, mNext, vNext] = engine().runKernel(ADAMW_UPDATE, inputs, attrs) as Tensor[];
      m.assign(mNext as Tensor);
      v.assign(vNext as Tensor);
      value.assign(next as Tensor);
      return;
    }
    const decayed: Tensor = wd === 0 ? value : mul(value, decay);
    const mNew = add(mul(m, beta1), mul(gradient, 1 - beta1));
    const vNew = add(mul(v, beta2), mul(square(gradient), 1 - beta2));
    const denom = add(div(sqrt(vNew), sqrtBias2), this.epsilon);
    m.assign(mNew);
    v.assign(vNew);
    value.assign(sub(decayed, mul(div(mNew, denom), stepSize)));
  }

  /** The hyperparameters tfjs serialises (model.save with includeOptimizer); decayFilter and groups are code, not config. */
  getConfig() {
    return {
      learningRate: this.learningRate,
      beta1: this.#beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      weightDecay: this.weightDecay,
    };
  }

  static override fromConfig<T extends serialization.Serializable>(
    cls: serialization.SerializableConstructor<T>,
    config: serialization.ConfigDict,
  ): T {
    // tfjs-layers' deserializer tacks `customObjects` onto the config; it is no option of ours.
    return new cls(
      Object.fromEntries(Object.entries(config).filter(([key]) => key !== "customObjects")),
    );
  }
}

serialization.registerClass(AdamW);
