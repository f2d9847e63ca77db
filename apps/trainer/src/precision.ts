// The run's precision: float32, or float16 mixed precision *emulated* in float32 (@cnnkit/train's
// `float16` option and `DynamicLossScaler`). The emulation is for seeing what half precision
// does to the gradients (underflow, overflow, loss scaling); tfjs has no float16 arithmetic, so
// it makes every step slower, never faster, and everything that reports on it says so.
import type { SummaryWriter } from "@cnnkit/tensorboard";
import {
  DynamicLossScaler,
  type DynamicLossScalerOptions,
  type DynamicLossScalerState,
  type Float16Options,
  type HalfUnderflow,
  type TrainStepResult,
  underflowFraction,
} from "@cnnkit/train";
import type { TrainConfig } from "./config.js";

/** What `fp16-emulated` is, in one sentence (the run's first line, metrics.json and the report). */
export const EMULATION_NOTE =
  "float16 mixed precision EMULATED in float32 (values rounded to half where a GPU would store them, float32 master weights): tfjs has no float16 arithmetic, so there is no speed-up; each step is slower than fp32";

/** `metrics.json`'s `precision` of an emulated run: what it did over the whole run. */
export interface EmulatedPrecisionSummary {
  mode: "fp16-emulated";
  note: string;
  lossScaling: boolean;
  /** The loss scale at the end of the run (1 without loss scaling). */
  finalLossScale: number;
  /** Steps skipped because a half gradient overflowed (the scaler backed off). */
  skippedSteps: number;
  /** Over every step: the fraction of nonzero gradient values that became zero in half. */
  underflow: { activationGradients: number; weightGradients: number };
  /** Per layer (stem first), the gradient values of its output summed over the run: nonzero, and flushed to zero in half. */
  activationGradientsByLayer: Record<string, HalfUnderflow>;
}

/** The line a run in `precision` prints first, or `null` for fp32. */
export function precisionLine(
  config: Pick<TrainConfig, "precision" | "lossScaling">,
): string | null {
  if (config.precision === "fp32") return null;
  return `precision: fp16-emulated, ${config.lossScaling ? "with dynamic loss scaling" : "WITHOUT loss scaling"}: ${EMULATION_NOTE}`;
}

function add(total: Record<string, HalfUnderflow>, step: Record<string, HalfUnderflow>): void {
  for (const [key, c] of Object.entries(step)) {
    const t = total[key] ?? { nonzero: 0, flushed: 0 };
    total[key] = { nonzero: t.nonzero + c.nonzero, flushed: t.flushed + c.flushed };
  }
}

/** One run's emulated float16: the option each step takes, the scaler's state, and its tallies. */
export class EmulatedFloat16 {
  readonly scaler: DynamicLossScaler | null;
  #skipped = 0;
  readonly #activations: Record<string, HalfUnderflow> = {};
  readonly #weights: Record<string, HalfUnderflow> = {};

  constructor(lossScaling: boolean, scaler: DynamicLossScalerOptions = {}) {
    this.scaler = lossScaling ? new DynamicLossScaler(scaler) : null;
  }

  /** `trainStep`'s `float16` option. */
  get stepOption(): Float16Options {
    return { scaler: this.scaler };
  }

  /** Tallies a step's report and writes its scalars (the loss scale each step used, skips, underflow). */
  record(writer: SummaryWriter, step: number, result: TrainStepResult): void {
    const half = result.float16;
    if (!half) return;
    if (half.skipped) this.#skipped++;
    add(this.#activations, half.activationGradients);
    add(this.#weights, half.weightGradients);
    writer.scalar("fp16/loss_scale", half.lossScale, step);
    writer.scalar("fp16/skipped", half.skipped ? 1 : 0, step);
    writer.scalar(
      "fp16/underflow_activation_grads",
      underflowFraction(half.activationGradients),
      step,
    );
    writer.scalar("fp16/underflow_weight_grads", underflowFraction(half.weightGradients), step);
  }

  summary(): EmulatedPrecisionSummary {
    return {
      mode: "fp16-emulated",
      note: EMULATION_NOTE,
      lossScaling: this.scaler !== null,
      finalLossScale: this.scaler?.scale ?? 1,
      skippedSteps: this.#skipped,
      underflow: {
        activationGradients: underflowFraction(this.#activations),
        weightGradients: underflowFraction(this.#weights),
      },
      activationGradientsByLayer: { ...this.#activations },
    };
  }

  /** The scaler's state for a checkpoint (`null` without loss scaling). */
  stateDict(): DynamicLossScalerState | null {
    return this.scaler?.stateDict() ?? null;
  }

  loadStateDict(state: DynamicLossScalerState | null | undefined): void {
    if (state && this.scaler) this.scaler.loadStateDict(state);
  }
}

/** The run's emulation, or `null` in fp32. `scaler` overrides the scaler's options (the experiment's shorter growth interval). */
export function emulatedFloat16(
  config: Pick<TrainConfig, "precision" | "lossScaling">,
  scaler?: DynamicLossScalerOptions,
): EmulatedFloat16 | null {
  return config.precision === "fp16-emulated"
    ? new EmulatedFloat16(config.lossScaling, scaler)
    : null;
}

/** The report's line on precision, or none in fp32. */
export function precisionMarkdown(
  config: Pick<TrainConfig, "precision" | "lossScaling">,
): string[] {
  const line = precisionLine(config);
  if (!line) return [];
  return [
    `**Training precision**: ${line.replace(/^precision: /, "")}. The evaluation above ran in float32. \`fp16/*\` in TensorBoard: the loss scale, skipped steps and underflow of every step.`,
    "",
  ];
}
