// Dynamic loss scaling, PyTorch's `torch.cuda.amp.GradScaler` arithmetic: the loss is multiplied
// by a large scale before the backward pass so that small gradients survive float16 (they would
// flush to zero below 2⁻²⁴), the gradients are divided by it again in float32, and the scale
// adapts: halved (and the step skipped) whenever a gradient overflowed, doubled after a run of
// clean steps. The update rule is ATen's `_amp_update_scale_` (AmpKernels.cu), in float32.
import { TrainError } from "./errors.js";

export interface DynamicLossScalerOptions {
  /** The first scale. Defaults to 2¹⁶ (65,536), PyTorch's `init_scale`. */
  initScale?: number;
  /** Multiplies the scale after `growthInterval` finite steps in a row. Defaults to 2. */
  growthFactor?: number;
  /** Multiplies the scale after a step whose gradients held Inf or NaN. Defaults to 0.5. */
  backoffFactor?: number;
  /** Finite steps in a row before the scale grows. Defaults to 2000. */
  growthInterval?: number;
}

/** A scaler's state, as saved in a checkpoint (PyTorch's `state_dict()` keys, camel-cased). */
export interface DynamicLossScalerState {
  scale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  growthTracker: number;
}

/** What `update` did: the step's gradients overflowed (`backoff`), or the scale `grew`, or it was `kept`. */
export type LossScaleUpdate = "backoff" | "grew" | "kept";

function invalid(option: string, expected: string, got: unknown): never {
  throw new TrainError(
    "invalid_option",
    `DynamicLossScaler: ${option}: expected ${expected}, got ${String(got)}`,
  );
}

export class DynamicLossScaler {
  #scale: number;
  #growthTracker = 0;
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;

  constructor(options: DynamicLossScalerOptions = {}) {
    const initScale = options.initScale ?? 2 ** 16;
    this.growthFactor = options.growthFactor ?? 2;
    this.backoffFactor = options.backoffFactor ?? 0.5;
    this.growthInterval = options.growthInterval ?? 2000;
    // PyTorch's GradScaler asserts the same ranges.
    if (!(initScale > 0) || !Number.isFinite(initScale))
      invalid("initScale", "a finite number > 0", initScale);
    if (!(this.growthFactor > 1) || !Number.isFinite(this.growthFactor))
      invalid("growthFactor", "a finite number > 1", this.growthFactor);
    if (!(this.backoffFactor > 0 && this.backoffFactor < 1))
      invalid("backoffFactor", "a number in (0, 1)", this.backoffFactor);
    if (!Number.isInteger(this.growthInterval) || this.growthInterval <= 0)
      invalid("growthInterval", "a positive integer", this.growthInterval);
    this.#scale = Math.fround(initScale);
  }

  /** The scale the next step multiplies its loss by (a float32 value). */
  get scale(): number {
    return this.#scale;
  }

  /** Finite steps since the last backoff or growth (PyTorch's `_growth_tracker`). */
  get growthTracker(): number {
    return this.#growthTracker;
  }

  /**
   * `1 / scale` as PyTorch's `unscale_` computes it (in double, then float32): what the scaled
   * gradients are multiplied by. Exact while the scale stays a power of two.
   */
  get inverseScale(): number {
    return Math.fround(1 / this.#scale);
  }

  /**
   * Ends a step: `foundInf` says whether its (scaled, half) gradients held Inf or NaN, in which
   * case the caller skipped the update. Backoff on overflow; growth after `growthInterval` finite
   * steps in a row, unless the grown scale would not be finite in float32.
   */
  update(foundInf: boolean): LossScaleUpdate {
    if (foundInf) {
      this.#scale = Math.fround(this.#scale * Math.fround(this.backoffFactor));
      this.#growthTracker = 0;
      return "backoff";
    }
    const successful = this.#growthTracker + 1;
    if (successful === this.growthInterval) {
      const grown = Math.fround(this.#scale * Math.fround(this.growthFactor));
      this.#growthTracker = 0;
      if (Number.isFinite(grown)) {
        this.#scale = grown;
        return "grew";
      }
      return "kept";
    }
    this.#growthTracker = successful;
    return "kept";
  }

  stateDict(): DynamicLossScalerState {
    return {
      scale: this.#scale,
      growthFactor: this.growthFactor,
      backoffFactor: this.backoffFactor,
      growthInterval: this.growthInterval,
      growthTracker: this.#growthTracker,
    };
  }

  /** Restores a saved scale and growth tracker (the factors and interval are this scaler's own options). */
  loadStateDict(state: Pick<DynamicLossScalerState, "scale" | "growthTracker">): void {
    if (!(state.scale > 0) || !Number.isFinite(state.scale))
      invalid("state.scale", "a finite number > 0", state.scale);
    if (!Number.isInteger(state.growthTracker) || state.growthTracker < 0)
      invalid("state.growthTracker", "an integer ≥ 0", state.growthTracker);
    this.#scale = Math.fround(state.scale);
    this.#growthTracker = state.growthTracker;
  }
}
