// The machinery AdamW and SGD share: a settable learning rate, parameter groups, per-variable state
// ("slots") kept by variable name, and getWeights/setWeights that save and restore that state by name.
import {
  engine,
  type NamedTensorMap,
  Optimizer,
  scalar,
  type Tensor,
  tidy,
  type Variable,
  variable,
} from "@tensorflow/tfjs-core";
import type { DecayFilter } from "./decay-filter.js";
import type { ResolvedParamGroup } from "./param-groups.js";

/** A tensor with the name it is saved under (tfjs's NamedTensor, which tfjs-core does not export). */
export interface NamedTensor {
  name: string;
  tensor: Tensor;
}

import { OptimError } from "./errors.js";
import { assertFiniteGradients } from "./finite-gradients.js";
import { checkNumber, describe } from "./validate.js";

/** What AdamW and SGD hand the shared machinery, checked. */
export interface SlotOptimizerSettings {
  learningRate: number;
  weightDecay: number;
  decayFilter: DecayFilter | undefined;
  groups: readonly ResolvedParamGroup[];
}

/** The learning rate and weight decay one variable's next update uses. */
export interface VariableHyperparameters {
  learningRate: number;
  weightDecay: number;
}

/** The name tfjs gives the iteration counter in getWeights(); kept for compatibility. */
const ITERATIONS = "iter";

export abstract class SlotOptimizer extends Optimizer {
  // tf.Optimizer answers `instanceof` by duck typing, so every optimizer would be "instanceof
  // AdamW"; check the prototype chain of the class asked about instead.
  static override [Symbol.hasInstance](instance: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass `instanceof` asks about.
    return Function.prototype[Symbol.hasInstance].call(this, instance);
  }

  #learningRate: number;
  /** Per-variable state, keyed by variable name, then slot name ("m", "v", "momentum"). */
  readonly #slots = new Map<string, Map<string, Variable>>();
  /** Per-variable update counts (PyTorch keeps a step per parameter, not per optimizer). */
  readonly #steps = new Map<string, number>();
  /** Each variable's group index (-1: none), decided once per name: matchers run once, not per step. */
  readonly #groupOf = new Map<string, number>();
  protected readonly decayFilter: DecayFilter | undefined;
  /** Weight decay of the variables no group with its own weightDecay claims. */
  readonly weightDecay: number;
  /** The parameter groups, first match wins; variables none matches use the optimizer's own settings. */
  readonly groups: readonly ResolvedParamGroup[];

  protected constructor(
    private readonly owner: string,
    settings: SlotOptimizerSettings,
  ) {
    super();
    this.#learningRate = checkNumber(owner, "learningRate", settings.learningRate, { min: 0 });
    this.weightDecay = checkNumber(owner, "weightDecay", settings.weightDecay, { min: 0 });
    const { decayFilter } = settings;
    if (decayFilter !== undefined && typeof decayFilter !== "function") {
      throw new OptimError(
        "invalid_option",
        `${owner}: expected decayFilter to be a function (variableName) => boolean, got ${describe(decayFilter)}`,
      );
    }
    this.decayFilter = decayFilter;
    this.groups = Object.freeze([...settings.groups]);
  }

  /** The learning rate of the next step; set it every step from a schedule. */
  get learningRate(): number {
    return this.#learningRate;
  }

  set learningRate(value: number) {
    this.#learningRate = checkNumber(this.owner, "learningRate", value, { min: 0 });
  }

  /** The slot names this optimizer keeps per variable, in save order. */
  protected abstract readonly slotNames: readonly string[];

  /** One variable's update, run inside a tidy; `step` counts this variable's updates, from 1. */
  protected abstract updateVariable(
    name: string,
    value: Variable,
    gradient: Tensor,
    step: number,
  ): void;

  /**
   * The learning rate and weight decay the next update of this variable uses: its group's
   * (`learningRate × lrScale`, the group's weightDecay when it sets one), else the optimizer's
   * (weightDecay only where the decayFilter accepts the name).
   */
  hyperparametersFor(variableName: string): VariableHyperparameters {
    let index = this.#groupOf.get(variableName);
    if (index === undefined) {
      index = this.groups.findIndex((g) => g.match(variableName));
      this.#groupOf.set(variableName, index);
    }
    const group = this.groups[index];
    const learningRate = this.#learningRate * (group?.lrScale ?? 1);
    if (group?.weightDecay !== undefined) return { learningRate, weightDecay: group.weightDecay };
    const decays = this.decayFilter === undefined || this.decayFilter(variableName) === true;
    return { learningRate, weightDecay: decays ? this.weightDecay : 0 };
  }

  protected getSlot(name: string, slot: string): Variable | undefined {
    return this.#slots.get(name)?.get(slot);
  }

  /** Creates (or replaces) a slot from an initial value; the slot is never trainable. */
  protected setSlot(name: string, slot: string, initial: Tensor): Variable {
    let slots = this.#slots.get(name);
    if (!slots) {
      slots = new Map();
      this.#slots.set(name, slots);
    }
    slots.get(slot)?.dispose();
    const v = variable(initial, false);
    slots.set(slot, v);
    return v;
  }

  applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
    const pairs: [string, Tensor | undefined][] = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor])
      : Object.entries(variableGradients);
    const registered = engine().registeredVariables;
    for (const [name, gradient] of pairs) {
      const value = registered[name];
      if (value === undefined) {
        throw new OptimError(
          "unknown_variable",
          `${this.owner}.applyGradients: no variable named "${name}" is registered with tfjs (was it disposed?)`,
        );
      }
      if (gradient != null && !sameShape(gradient.shape, value.shape)) {
        throw new OptimError(
          "shape_mismatch",
          `${this.owner}.applyGradients: gradient of "${name}" has shape [${gradient.shape}], expected the variable's [${value.shape}]`,
        );
      }
    }
    // A NaN or Infinity would destroy the weights and the slots: refuse before touching either.
    assertFiniteGradients(
      this.owner,
      pairs.filter((p): p is [string, Tensor] => p[1] != null),
    );
    tidy(() => {
      for (const [name, gradient] of pairs) {
        // Like PyTorch, a variable without a gradient is left alone and its step does not advance.
        if (gradient == null) continue;
        const step = (this.#steps.get(name) ?? 0) + 1;
        this.updateVariable(name, registered[name]!, gradient, step);
        this.#steps.set(name, step);
      }
    });
    this.incrementIterations();
  }

  /**
   * The optimizer's state as named tensors: `iter`, then `<variable>/step` and
   * `<variable>/<slot>` per variable. Slot tensors are the live variables (as in tfjs); the
   * scalars are new tensors the caller disposes.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    for (const [name, slots] of this.#slots) {
      out.push({ name: `${name}/step`, tensor: scalar(this.#steps.get(name) ?? 0, "int32") });
      for (const slot of this.slotNames) {
        const v = slots.get(slot);
        if (v) out.push({ name: `${name}/${slot}`, tensor: v });
      }
    }
    // Variables that were stepped without a slot (SGD without momentum) still have a step count.
    for (const [name, step] of this.#steps) {
      if (!this.#slots.has(name)) {
        out.push({ name: `${name}/step`, tensor: scalar(step, "int32") });
      }
    }
    return out;
  }

  /**
   * Restores state written by {@link getWeights}, matched by variable name. Every named variable
   * must exist (build the model first) and every slot must have its variable's shape.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const registered = engine().registeredVariables;
    const steps = new Map<string, number>();
    const slots: [string, string, Tensor][] = [];
    let iterations: number | undefined;
    for (const { name: full, tensor } of weightValues) {
      if (full === ITERATIONS) {
        iterations = (await tensor.data())[0];
        continue;
      }
      const cut = full.lastIndexOf("/");
      const saved = full.slice(0, cut);
      const slot = full.slice(cut + 1);
      if (cut <= 0 || (slot !== "step" && !this.slotNames.includes(slot))) {
        throw new OptimError(
          "state_mismatch",
          `${this.owner}.setWeights: unexpected state tensor "${full}"; expected "<variable>/step" or "<variable>/${this.slotNames.join("|")}"`,
        );
      }
      const name = resolveVariableName(saved, registered);
      if (name === undefined) {
        throw new OptimError(
          "state_mismatch",
          `${this.owner}.setWeights: the state holds "${full}" but no variable named "${saved}" exists; build the model (with the same layer names) before loading its optimizer state`,
        );
      }
      const target = registered[name]!;
      if (slot === "step") {
        steps.set(name, (await tensor.data())[0] as number);
      } else {
        if (!sameShape(tensor.shape, target.shape)) {
          throw new OptimError(
            "state_mismatch",
            `${this.owner}.setWeights: "${full}" has shape [${tensor.shape}] but variable "${name}" has [${target.shape}]`,
          );
        }
        slots.push([name, slot, tensor]);
      }
    }
    this.disposeSlots();
    this.#steps.clear();
    for (const [name, step] of steps) this.#steps.set(name, step);
    for (const [name, slot, tensor] of slots) this.setSlot(name, slot, tensor);
    this.iterations_ = iterations ?? 0;
  }

  private disposeSlots(): void {
    for (const slots of this.#slots.values()) for (const v of slots.values()) v.dispose();
    this.#slots.clear();
  }

  /** Frees every slot variable; the optimizer can keep training (slots start from zero again). */
  override dispose(): void {
    this.disposeSlots();
    this.#steps.clear();
    super.dispose();
  }
}

/**
 * The variable a saved name refers to: the same name, or else the one variable tfjs-layers renamed
 * from it (`fc/kernel` → `fc/kernel_1`) because a model with that name was built before in this
 * process (tfjs-layers never reuses a name, even after disposal).
 */
function resolveVariableName(
  saved: string,
  registered: Record<string, Variable>,
): string | undefined {
  if (registered[saved] !== undefined) return saved;
  const prefix = `${saved}_`;
  const renamed = Object.keys(registered).filter(
    (n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)),
  );
  return renamed.length === 1 ? renamed[0] : undefined;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
