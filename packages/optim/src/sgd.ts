// SGD with momentum, Nesterov and weight decay, with PyTorch's semantics (torch.optim.SGD, 1.13).
import {
  add,
  engine,
  mul,
  serialization,
  sub,
  type Tensor,
  type Variable,
} from "@tensorflow/tfjs-core";
import type { DecayFilter } from "./decay-filter.js";
import { OptimError } from "./errors.js";
import { canFuse } from "./fused-kernels.js";
import { SGD_UPDATE, type SGDUpdateAttrs, type SGDUpdateInputs } from "./kernel-names.js";
import { type ParamGroup, type ResolvedParamGroup, resolveParamGroups } from "./param-groups.js";
import { SlotOptimizer } from "./slot-optimizer.js";
import { checkBoolean, checkNumber, checkOptions } from "./validate.js";

/** Options of {@link SGD}; the defaults are PyTorch's (except learningRate, which PyTorch requires). */
export interface SGDOptions {
  /** Step size; set `learningRate` every step to follow a schedule. Defaults to 0.01. */
  learningRate?: number;
  /** Momentum factor (OneCycleLR's `momentum` goes here). Defaults to 0. */
  momentum?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Defaults to false. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient: g ← g + weightDecay·p. Defaults to 0. */
  weightDecay?: number;
  /** Dampening of the gradient in the momentum buffer. Defaults to 0. */
  dampening?: number;
  /** Which variables get weight decay (e.g. {@link decayKernelsOnly}). Defaults to all of them. */
  decayFilter?: DecayFilter;
  /**
   * Parameter groups with their own learning-rate scale and weight decay (PyTorch's
   * param_groups), first match wins, e.g. `[{ match: batchNormBiases, lrScale: 64 }]`.
   * Defaults to none: every variable uses the settings above.
   */
  groups?: readonly ParamGroup[];
}

const SGD_KEYS = [
  "learningRate",
  "momentum",
  "nesterov",
  "weightDecay",
  "dampening",
  "decayFilter",
  "groups",
] as const;

/** {@link SGDOptions} with defaults applied and checked. */
export interface ResolvedSGDOptions {
  learningRate: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  dampening: number;
  decayFilter: DecayFilter | undefined;
  groups: ResolvedParamGroup[];
}

export function resolveSGDOptions(options: SGDOptions = {}): ResolvedSGDOptions {
  const o = checkOptions("SGD", options, SGD_KEYS);
  const resolved = {
    learningRate: checkNumber("SGD", "learningRate", o.learningRate ?? 0.01, { min: 0 }),
    momentum: checkNumber("SGD", "momentum", o.momentum ?? 0, { min: 0, max: 1 }),
    nesterov: checkBoolean("SGD", "nesterov", o.nesterov ?? false),
    weightDecay: checkNumber("SGD", "weightDecay", o.weightDecay ?? 0, { min: 0 }),
    dampening: checkNumber("SGD", "dampening", o.dampening ?? 0, { min: 0, max: 1 }),
    decayFilter: o.decayFilter,
    groups: resolveParamGroups("SGD", o.groups),
  };
  if (resolved.nesterov && (resolved.momentum <= 0 || resolved.dampening !== 0)) {
    throw new OptimError(
      "invalid_option",
      `SGD: nesterov needs momentum > 0 and dampening = 0, got momentum=${resolved.momentum}, dampening=${resolved.dampening}`,
    );
  }
  return resolved;
}

/**
 * Stochastic gradient descent, step for step as PyTorch computes it:
 *
 * ```
 * d ← g + wd·p                                  (wd only for variables the decayFilter accepts)
 * b ← d on the first step, else μ·b + (1 − dampening)·d
 * d ← d + μ·b (Nesterov) or b
 * p ← p − lr·d
 * ```
 *
 * with `lr` and `wd` the variable's group's where a group matches it (`learningRate × lrScale`
 * and the group's weightDecay), as each of PyTorch's param_groups has its own.
 */
export class SGD extends SlotOptimizer {
  static get className(): string {
    return "cnnkit.SGD";
  }

  #momentum: number;
  readonly nesterov: boolean;
  readonly dampening: number;
  protected readonly slotNames = ["momentum"] as const;

  constructor(options: SGDOptions = {}) {
    const o = resolveSGDOptions(options);
    super("SGD", o);
    this.#momentum = o.momentum;
    this.nesterov = o.nesterov;
    this.dampening = o.dampening;
  }

  /** Momentum of the next step; OneCycleLR's `momentum` goes here. */
  get momentum(): number {
    return this.#momentum;
  }

  set momentum(value: number) {
    this.#momentum = checkNumber("SGD", "momentum", value, { min: 0, max: 1 });
  }

  protected updateVariable(name: string, value: Variable, gradient: Tensor): void {
    const { learningRate: lr, weightDecay: wd } = this.hyperparametersFor(name);
    const momentum = this.#momentum;
    const buffer = momentum !== 0 ? this.getSlot(name, "momentum") : undefined;
    // One kernel instead of up to 7 ops where the backend has it (kernel-names.ts).
    if (canFuse(SGD_UPDATE, [value, gradient, buffer])) {
      const inputs: SGDUpdateInputs<Tensor> = buffer
        ? { value, gradient, buffer }
        : { value, gradient };
      const attrs: SGDUpdateAttrs = {
        learningRate: lr,
        momentum,
        dampening: this.dampening,
        weightDecay: wd,
        nesterov: this.nesterov,
      };
      const [next, nextBuffer] = engine().runKernel(SGD_UPDATE, inputs, attrs) as Tensor[];
      if (momentum !== 0) {
        if (buffer) buffer.assign(nextBuffer as Tensor);
        else this.setSlot(name, "momentum", nextBuffer as Tensor);
      }
      value.assign(next as Tensor);
      return;
    }
    this.updateWithOps(name, value, gradient, lr, wd);
  }

  /** The same update as tfjs ops (PyTorch's order of operations). */
  private updateWithOps(
    name: string,
    value: Variable,
    gradient: Tensor,
    lr: number,
    wd: number,
  ): void {
    let d: Tensor = wd === 0 ? gradient : add(gradient, mul(value, wd));
    const momentum = this.#momentum;
    if (momentum !== 0) {
      let buffer = this.getSlot(name, "momentum");
      if (buffer === undefined) {
        buffer = this.setSlot(name, "momentum", d);
      } else {
        buffer.assign(add(mul(buffer, momentum), mul(d, 1 - this.dampening)));
      }
      d = this.nesterov ? add(d, mul(buffer, momentum)) : buffer;
    }
    value.assign(sub(value, mul(d, lr)));
  }

  /** The hyperparameters tfjs serialises (model.save with includeOptimizer); decayFilter and groups are code, not config. */
  getConfig() {
    return {
      learningRate: this.learningRate,
      momentum: this.#momentum,
      nesterov: this.nesterov,
      weightDecay: this.weightDecay,
      dampening: this.dampening,
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

serialization.registerClass(SGD);
