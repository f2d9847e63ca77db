// An exponential moving average of a model's weights (BatchNorm statistics included), to evaluate with.
import { add, keep, mul, type Tensor, tidy } from "@tensorflow/tfjs-core";
import { OptimError } from "./errors.js";
import { type EMATarget, ShadowWeights } from "./shadow-weights.js";
import type { NamedTensor } from "./slot-optimizer.js";
import { checkBoolean, checkNumber, checkOptions } from "./validate.js";

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

const EMA_KEYS = ["decay", "warmup"] as const;

/**
 * Keeps an exponential moving average of every float weight of a model, BatchNorm moving mean
 * and variance included (they are weights of the model too, and averaging them keeps them
 * consistent with the averaged kernels). Call `update()` after each optimizer step; evaluate
 * with the average through `evaluate(fn)` (or `swapIn()` … `swapOut()`).
 */
export class WeightEMA {
  readonly decay: number;
  readonly warmup: boolean;
  readonly #shadows: ShadowWeights;
  #updates = 0;
  #backup: Tensor[] | null = null;

  constructor(target: EMATarget, options: WeightEMAOptions = {}) {
    const o = checkOptions("WeightEMA", options, EMA_KEYS);
    this.decay = checkNumber("WeightEMA", "decay", o.decay ?? 0.999, { min: 0, max: 1 });
    this.warmup = checkBoolean("WeightEMA", "warmup", o.warmup ?? false);
    this.#shadows = new ShadowWeights("WeightEMA", target);
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
      for (const e of this.#shadows.entries) {
        e.shadow.assign(add(mul(e.shadow, d), mul(e.read(), 1 - d)));
      }
    });
    this.#updates += 1;
  }

  /** Puts the averaged weights into the model, keeping the training weights aside. */
  swapIn(): void {
    if (this.#backup !== null) {
      throw new OptimError("swapped_in", "WeightEMA.swapIn: the averaged weights are already in");
    }
    this.#backup = this.#shadows.entries.map((e) => keep(e.read().clone()));
    this.#shadows.writeIn();
  }

  /** Puts the training weights back. */
  swapOut(): void {
    const backup = this.#backup;
    if (backup === null) {
      throw new OptimError("not_swapped_in", "WeightEMA.swapOut: the averaged weights are not in");
    }
    this.#shadows.entries.forEach((e, i) => {
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

  /** The averages as named tensors (the live variables), for checkpoints. */
  getWeights(): NamedTensor[] {
    return this.#shadows.getWeights();
  }

  /** Restores averages written by {@link getWeights}, matched by weight name and shape. */
  setWeights(weights: NamedTensor[], updates: number): void {
    const n = checkNumber("WeightEMA", "updates", updates, { min: 0 });
    this.#shadows.setWeights(weights);
    this.#updates = n;
  }

  /** Frees the averages (and a pending backup). */
  dispose(): void {
    this.#shadows.dispose();
    if (this.#backup) for (const t of this.#backup) t.dispose();
    this.#backup = null;
  }
}
