// An exponential moving average of a model's weights (BatchNorm statistics included), to evaluate with.
import { add, keep, mul, type Tensor, tidy, type Variable, variable } from "@tensorflow/tfjs-core";
import { OptimError } from "./errors.js";
import type { NamedTensor } from "./slot-optimizer.js";
import { checkBoolean, checkNumber, describe } from "./validate.js";

/** A weight the EMA can read and write: a tfjs-layers `LayerVariable` fits (`model.weights`). */
export interface WeightLike {
  readonly name: string;
  /** The name before tfjs-layers made it unique (`fc/kernel` for `fc/kernel_1`); saved under it when present. */
  readonly originalName?: string;
  read(): Tensor;
  write(value: Tensor): unknown;
}

/** What a {@link WeightEMA} averages: a `tf.LayersModel` (any `{ weights }`), layer weights, or tf.Variables. */
export type EMATarget =
  | { readonly weights: readonly WeightLike[] }
  | readonly (WeightLike | Variable)[];

/** Options of {@link WeightEMA}. */
export interface WeightEMAOptions {
  /** Weight of the old average in each update: ema ← decay·ema + (1 − decay)·w. Defaults to 0.999. */
  decay?: number;
  /**
   * Use min(decay, (1 + n) / (10 + n)) at update n, so the average forgets the random
   * initialisation quickly in short runs. Defaults to false.
   */
  warmup?: boolean;
}

interface Entry {
  name: string;
  read(): Tensor;
  write(value: Tensor): void;
  shadow: Variable;
}

/**
 * Keeps an exponential moving average of every float weight of a model, BatchNorm moving mean
 * and variance included (they are weights of the model too, and averaging them keeps them
 * consistent with the averaged kernels). Call `update()` after each optimizer step; evaluate
 * with the average through `evaluate(fn)` (or `swapIn()` … `swapOut()`).
 */
export class WeightEMA {
  readonly decay: number;
  readonly warmup: boolean;
  readonly #entries: Entry[];
  #updates = 0;
  #backup: Tensor[] | null = null;

  constructor(target: EMATarget, options: WeightEMAOptions = {}) {
    this.decay = checkNumber("WeightEMA", "decay", options.decay ?? 0.999, { min: 0, max: 1 });
    this.warmup = checkBoolean("WeightEMA", "warmup", options.warmup ?? false);
    const weights = Array.isArray(target)
      ? (target as readonly (WeightLike | Variable)[])
      : (target as { weights?: unknown }).weights;
    if (!Array.isArray(weights) || weights.length === 0) {
      throw new OptimError(
        "invalid_option",
        `WeightEMA: expected a model with weights, or a non-empty array of weights/variables, got ${describe(weights)}`,
      );
    }
    this.#entries = [];
    for (const w of weights as (WeightLike | Variable)[]) {
      const entry = toEntry(w);
      const initial = entry.read();
      // Integer weights (rare: step counters) are not averaged.
      if (initial.dtype !== "float32") continue;
      // The shadow shares the weight's current data (reference-counted) until its first update.
      this.#entries.push({ ...entry, shadow: variable(initial, false) });
    }
  }

  /** How many times `update()` has run. */
  get updates(): number {
    return this.#updates;
  }

  /** Whether the averaged weights are in the model now. */
  get swappedIn(): boolean {
    return this.#backup !== null;
  }

  /** The decay the next `update()` uses (differs from `decay` only with `warmup`). */
  get currentDecay(): number {
    const n = this.#updates;
    return this.warmup ? Math.min(this.decay, (1 + n) / (10 + n)) : this.decay;
  }

  /** Folds the model's current weights into the average; call after each optimizer step. */
  update(): void {
    if (this.#backup !== null) {
      throw new OptimError(
        "swapped_in",
        "WeightEMA.update: the averaged weights are swapped in; call swapOut() before training again",
      );
    }
    const d = this.currentDecay;
    tidy(() => {
      for (const e of this.#entries) e.shadow.assign(add(mul(e.shadow, d), mul(e.read(), 1 - d)));
    });
    this.#updates += 1;
  }

  /** Puts the averaged weights into the model, keeping the training weights aside. */
  swapIn(): void {
    if (this.#backup !== null) {
      throw new OptimError("swapped_in", "WeightEMA.swapIn: the averaged weights are already in");
    }
    this.#backup = this.#entries.map((e) => keep(e.read().clone()));
    tidy(() => {
      for (const e of this.#entries) e.write(e.shadow.clone());
    });
  }

  /** Puts the training weights back. */
  swapOut(): void {
    const backup = this.#backup;
    if (backup === null) {
      throw new OptimError("not_swapped_in", "WeightEMA.swapOut: the averaged weights are not in");
    }
    this.#entries.forEach((e, i) => {
      e.write(backup[i]!);
    });
    for (const t of backup) t.dispose();
    this.#backup = null;
  }

  /** Runs `fn` with the averaged weights in the model and puts the training weights back after, even on error. */
  async evaluate<T>(fn: () => T | Promise<T>): Promise<T> {
    this.swapIn();
    try {
      return await fn();
    } finally {
      this.swapOut();
    }
  }

  /** The averages as named tensors (the live variables) plus `ema/updates`, for checkpoints. */
  getWeights(): NamedTensor[] {
    return this.#entries.map((e) => ({ name: e.name, tensor: e.shadow as Tensor }));
  }

  /** Restores averages written by {@link getWeights}, matched by weight name and shape. */
  setWeights(weights: NamedTensor[], updates: number): void {
    const byName = new Map(weights.map((w) => [w.name, w.tensor]));
    for (const e of this.#entries) {
      const t = byName.get(e.name);
      if (t === undefined) {
        throw new OptimError(
          "state_mismatch",
          `WeightEMA.setWeights: no saved average for weight "${e.name}" (saved: ${[...byName.keys()].slice(0, 5).join(", ")}…)`,
        );
      }
      if (t.shape.join() !== e.shadow.shape.join()) {
        throw new OptimError(
          "state_mismatch",
          `WeightEMA.setWeights: saved average of "${e.name}" has shape [${t.shape}], the weight has [${e.shadow.shape}]`,
        );
      }
    }
    for (const e of this.#entries) e.shadow.assign(byName.get(e.name)!);
    this.#updates = checkNumber("WeightEMA", "updates", updates, { min: 0 });
  }

  /** Frees the averages (and a pending backup). */
  dispose(): void {
    for (const e of this.#entries) e.shadow.dispose();
    if (this.#backup) for (const t of this.#backup) t.dispose();
    this.#backup = null;
  }
}

function toEntry(w: WeightLike | Variable): Omit<Entry, "shadow"> {
  const candidate = w as Partial<WeightLike> & Partial<Variable>;
  if (typeof candidate.read === "function" && typeof candidate.write === "function") {
    const lw = w as WeightLike;
    // A rebuilt model's variables are renamed `…_1` by tfjs-layers; the original name is stable.
    const name = typeof lw.originalName === "string" ? lw.originalName : lw.name;
    return { name, read: () => lw.read(), write: (t) => void lw.write(t) };
  }
  if (typeof candidate.assign === "function") {
    const v = w as Variable;
    return { name: v.name, read: () => v, write: (t) => v.assign(t) };
  }
  throw new OptimError(
    "invalid_option",
    `WeightEMA: expected LayerVariables (model.weights) or tf.Variables, got ${describe(w)}`,
  );
}
