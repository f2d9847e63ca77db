// A copy ("shadow") of every float weight of a model, by weight name: what WeightEMA and Lookahead
// average into, save, restore and write back.
import { type Tensor, tidy, type Variable, variable } from "@tensorflow/tfjs-core";
import { OptimError } from "./errors.js";
import type { NamedTensor } from "./slot-optimizer.js";
import { describe } from "./validate.js";

/** A weight the averages can read and write: a tfjs-layers `LayerVariable` fits (`model.weights`). */
export interface WeightLike {
  readonly name: string;
  /** The name before tfjs-layers made it unique (`fc/kernel` for `fc/kernel_1`); saved under it when present. */
  readonly originalName?: string;
  read(): Tensor;
  write(value: Tensor): unknown;
}

/** What a {@link WeightEMA} or {@link Lookahead} averages: a `tf.LayersModel` (any `{ weights }`), layer weights, or tf.Variables. */
export type EMATarget =
  | { readonly weights: readonly WeightLike[] }
  | readonly (WeightLike | Variable)[];

export interface ShadowEntry {
  readonly name: string;
  read(): Tensor;
  write(value: Tensor): void;
  readonly shadow: Variable;
}

export class ShadowWeights {
  readonly entries: readonly ShadowEntry[];

  /** Shadows of the target's float weights, starting at their current values. */
  constructor(
    private readonly owner: string,
    target: EMATarget,
  ) {
    const weights = Array.isArray(target)
      ? (target as readonly (WeightLike | Variable)[])
      : (target as { weights?: unknown } | null)?.weights;
    if (!Array.isArray(weights) || weights.length === 0) {
      throw new OptimError(
        "invalid_option",
        `${owner}: expected a model with weights, or a non-empty array of weights/variables, got ${describe(weights)}`,
      );
    }
    const entries: ShadowEntry[] = [];
    for (const w of weights as (WeightLike | Variable)[]) {
      const entry = toEntry(owner, w);
      const initial = entry.read();
      // Integer weights (rare: step counters) are not averaged.
      if (initial.dtype !== "float32") continue;
      // The shadow shares the weight's current data (reference-counted) until its first update.
      entries.push({ ...entry, shadow: variable(initial, false) });
    }
    this.entries = entries;
  }

  /** Writes every shadow into its weight. */
  writeIn(): void {
    tidy(() => {
      for (const e of this.entries) e.write(e.shadow.clone());
    });
  }

  /** The shadows as named tensors (the live variables). */
  getWeights(): NamedTensor[] {
    return this.entries.map((e) => ({ name: e.name, tensor: e.shadow as Tensor }));
  }

  /** Restores shadows written by {@link getWeights}, matched by weight name and shape; all or nothing. */
  setWeights(weights: NamedTensor[]): void {
    const byName = new Map(weights.map((w) => [w.name, w.tensor]));
    for (const e of this.entries) {
      const t = byName.get(e.name);
      if (t === undefined) {
        throw new OptimError(
          "state_mismatch",
          `${this.owner}.setWeights: no saved average for weight "${e.name}" (saved: ${[...byName.keys()].slice(0, 5).join(", ")}…)`,
        );
      }
      if (t.shape.join() !== e.shadow.shape.join()) {
        throw new OptimError(
          "state_mismatch",
          `${this.owner}.setWeights: saved average of "${e.name}" has shape [${t.shape}], the weight has [${e.shadow.shape}]`,
        );
      }
    }
    for (const e of this.entries) e.shadow.assign(byName.get(e.name)!);
  }

  dispose(): void {
    for (const e of this.entries) e.shadow.dispose();
  }
}

function toEntry(owner: string, w: WeightLike | Variable): Omit<ShadowEntry, "shadow"> {
  const candidate = w as Partial<WeightLike> & Partial<Variable>;
  if (typeof candidate?.read === "function" && typeof candidate.write === "function") {
    const lw = w as WeightLike;
    // A rebuilt model's variables are renamed `…_1` by tfjs-layers; the original name is stable.
    const name = typeof lw.originalName === "string" ? lw.originalName : lw.name;
    return { name, read: () => lw.read(), write: (t) => void lw.write(t) };
  }
  if (typeof candidate?.assign === "function") {
    const v = w as Variable;
    return { name: v.name, read: () => v, write: (t) => v.assign(t) };
  }
  throw new OptimError(
    "invalid_option",
    `${owner}: expected LayerVariables (model.weights) or tf.Variables, got ${describe(w)}`,
  );
}
