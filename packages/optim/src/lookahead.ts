// Lookahead-style weight averaging written back into the model, as the fast CIFAR-10 recipe does it
// (airbench94's LookaheadState, Keller Jordan, arXiv 2404.00498).
import { add, mul, sub, tidy } from "@tensorflow/tfjs-core";
import { OptimError } from "./errors.js";
import { type EMATarget, ShadowWeights } from "./shadow-weights.js";
import type { NamedTensor } from "./slot-optimizer.js";
import { checkNumber, checkOptions } from "./validate.js";

/** Options of {@link Lookahead}. */
export interface LookaheadOptions {
  /** The run's total optimizer steps (from the data loader, as the schedule's). Required. */
  totalSteps: number;
  /** Optimizer steps between two averagings (airbench's 5). Defaults to 5. */
  every?: number;
  /** Per-step base of the decay: decay = base^every · (step / totalSteps)³. Defaults to 0.95. */
  base?: number;
}

const LOOKAHEAD_KEYS = ["totalSteps", "every", "base"] as const;

/**
 * Keeps an average of every float weight of a model (BatchNorm moving statistics included, as
 * airbench averages its whole `state_dict`) and, every `every` optimizer steps, folds the model
 * into it and writes it back into the model:
 *
 * ```
 * avg ← avg + (1 − decay)·(w − avg);   w ← avg;   decay = base^every · (step / totalSteps)³
 * ```
 *
 * The decay grows from 0 (the average simply follows the weights early on) to `base^every` at
 * the end, and after the last step the average is the model's. Call `step()` after each
 * optimizer step; it returns true when it replaced the model's weights.
 */
export class Lookahead {
  readonly totalSteps: number;
  readonly every: number;
  readonly base: number;
  readonly #shadows: ShadowWeights;
  #steps = 0;

  constructor(target: EMATarget, options: LookaheadOptions) {
    const o = checkOptions("Lookahead", options, LOOKAHEAD_KEYS);
    this.totalSteps = checkInteger("totalSteps", o.totalSteps, 1);
    this.every = checkInteger("every", o.every ?? 5, 1);
    this.base = checkNumber("Lookahead", "base", o.base ?? 0.95, { min: 0, max: 1 });
    this.#shadows = new ShadowWeights("Lookahead", target);
  }

  /** How many optimizer steps `step()` has counted. */
  get steps(): number {
    return this.#steps;
  }

  /** The decay of an averaging after optimizer step `step`: `base^every · (step / totalSteps)³`. */
  decayAt(step: number): number {
    return this.base ** this.every * (step / this.totalSteps) ** 3;
  }

  /**
   * Counts one optimizer step; at every `every`-th, averages and writes the average into the
   * model; at the last (`totalSteps`), also puts the average in the model for good (airbench's
   * final `update(decay=1)`). Returns whether the model's weights were replaced.
   */
  step(): boolean {
    if (this.#steps >= this.totalSteps) {
      throw new OptimError(
        "finished",
        `Lookahead.step: expected at most totalSteps = ${this.totalSteps} steps, got step ${this.#steps + 1} (is totalSteps the schedule's?)`,
      );
    }
    const step = ++this.#steps;
    let replaced = false;
    if (step % this.every === 0) {
      this.update(this.decayAt(step));
      replaced = true;
    }
    if (step === this.totalSteps) {
      this.finish();
      replaced = true;
    }
    return replaced;
  }

  /** One averaging with the given decay: `avg ← avg + (1 − decay)·(w − avg)`, then `w ← avg`. */
  update(decay: number): void {
    const d = checkNumber("Lookahead", "decay", decay, { min: 0, max: 1 });
    tidy(() => {
      for (const e of this.#shadows.entries) {
        e.shadow.assign(add(e.shadow, mul(sub(e.read(), e.shadow), 1 - d)));
      }
    });
    this.#shadows.writeIn();
  }

  /** Writes the average into the model (the end of training; `step()` does it at the last step). */
  finish(): void {
    this.#shadows.writeIn();
  }

  /** The averages as named tensors (the live variables), for checkpoints. */
  getWeights(): NamedTensor[] {
    return this.#shadows.getWeights();
  }

  /** Restores averages written by {@link getWeights}, matched by weight name and shape, and the step count. */
  setWeights(weights: NamedTensor[], steps: number): void {
    const n = checkInteger("steps", steps, 0, this.totalSteps);
    this.#shadows.setWeights(weights);
    this.#steps = n;
  }

  /** Frees the averages. */
  dispose(): void {
    this.#shadows.dispose();
  }
}

function checkInteger(name: string, value: unknown, min: number, max?: number): number {
  const n = checkNumber("Lookahead", name, value, { min, ...(max === undefined ? {} : { max }) });
  if (!Number.isInteger(n)) {
    throw new OptimError(
      "invalid_option",
      `Lookahead: expected ${name} to be an integer, got ${n}`,
    );
  }
  return n;
}
