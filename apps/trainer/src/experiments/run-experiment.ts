// The experiments by name, and `all` (one after another, sharing the loaded data).

import { TrainerError } from "../errors.js";
import type { ExperimentContext } from "./arm.js";
import { augmentationExperiment } from "./augmentation.js";
import { featuresExperiment } from "./features.js";
import { mixedPrecisionExperiment } from "./mixed-precision.js";
import { DataSource, type ExperimentOptions, resolveExperimentOptions } from "./options.js";
import { pitfallsExperiment } from "./pitfalls.js";
import { recipeExperiment } from "./recipe.js";
import { residualsExperiment } from "./residuals.js";
import type { ExperimentResult } from "./summary.js";

export const EXPERIMENTS = {
  residuals: residualsExperiment,
  augmentation: augmentationExperiment,
  pitfalls: pitfallsExperiment,
  recipe: recipeExperiment,
  features: featuresExperiment,
  "mixed-precision": mixedPrecisionExperiment,
} as const satisfies Record<string, (ctx: ExperimentContext) => Promise<ExperimentResult>>;

export type ExperimentName = keyof typeof EXPERIMENTS;
export const EXPERIMENT_NAMES = [...(Object.keys(EXPERIMENTS) as ExperimentName[]), "all"] as const;

/**
 * Runs one experiment (or `all`), each arm a real training run under `<out>/<experiment>/<arm>/`,
 * and returns what each wrote. The backend must already be set (`useBackend`).
 */
export async function runExperiment(
  name: ExperimentName | "all",
  options: ExperimentOptions = {},
): Promise<ExperimentResult[]> {
  const names = name === "all" ? (Object.keys(EXPERIMENTS) as ExperimentName[]) : [name];
  for (const n of names) {
    if (!(n in EXPERIMENTS)) {
      throw new TrainerError(
        "flag_invalid",
        `experiment: expected one of ${EXPERIMENT_NAMES.join(", ")}, got ${JSON.stringify(n)}`,
      );
    }
  }
  const resolved = resolveExperimentOptions(options);
  const ctx: ExperimentContext = { options: resolved, data: new DataSource(resolved.data) };
  const results: ExperimentResult[] = [];
  for (const n of names) {
    const result = await EXPERIMENTS[n](ctx);
    resolved.log(`${n}: wrote ${result.summary}`);
    results.push(result);
  }
  return results;
}
