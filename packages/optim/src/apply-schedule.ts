// One call per step that hands a schedule's values to either optimizer, so the trainer need not
// know that AdamW calls its momentum beta1.
import { AdamW } from "./adamw.js";
import { OptimError } from "./errors.js";
import { SGD } from "./sgd.js";

/** What a schedule gives per step: `@cnnkit/schedulers`' LRSchedule fits. */
export interface ScheduledValues {
  readonly lr: number;
  readonly momentum?: number | undefined;
}

/**
 * Sets `learningRate` from `values.lr` and, when the schedule drives one, AdamW's `beta1` or
 * SGD's `momentum` from `values.momentum`. Call it before each optimizer step.
 */
export function applySchedule(optimizer: AdamW | SGD, values: ScheduledValues): void {
  if (!(optimizer instanceof AdamW) && !(optimizer instanceof SGD)) {
    throw new OptimError(
      "invalid_option",
      "applySchedule: expected a cnnkit AdamW or SGD (whose momentum a schedule can set), got another optimizer",
    );
  }
  optimizer.learningRate = values.lr;
  if (values.momentum === undefined) return;
  if (optimizer instanceof AdamW) optimizer.beta1 = values.momentum;
  else optimizer.momentum = values.momentum;
}
