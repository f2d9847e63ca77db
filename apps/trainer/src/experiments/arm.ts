// One arm of an experiment: a real `train()` run in `<out>/<experiment>/<arm>/`, whose per-step
// curves are read back from its own TensorBoard events (so the pictures show what TensorBoard
// shows, and a run whose events do not parse fails here, not later in someone's browser).
import { join } from "node:path";
import { SummaryWriter } from "@cnnkit/tensorboard";
import type { TrainConfig } from "../config.js";
import { runPaths } from "../run-dir.js";
import { type Curve, readScalars } from "../scalars.js";
import { type TrainOptions, type TrainResult, train } from "../train.js";
import type { DataSource, ResolvedExperimentOptions } from "./options.js";

export { type Curve, readScalars };

/** What an experiment runs with: its resolved options and the shared data. */
export interface ExperimentContext {
  options: ResolvedExperimentOptions;
  data: DataSource;
}

export interface ArmResult {
  name: string;
  runDir: string;
  config: TrainConfig;
  result: TrainResult;
  /** `train/loss` per step, from the arm's event files. */
  loss: Curve;
}

/** Trains one arm from scratch in `<out>/<experiment>/<arm>/` and reads its loss curve back. */
export async function runArm(
  ctx: ExperimentContext,
  experiment: string,
  name: string,
  config: TrainConfig,
  extra: Pick<TrainOptions, "onGradients" | "afterEpoch" | "buildModel" | "lossScaler"> = {},
  /** What the arm trains, when the config does not say it all (a custom `buildModel`). */
  network?: string,
): Promise<ArmResult> {
  const runDir = join(ctx.options.out, experiment, name);
  ctx.options.log(`${experiment}/${name}: ${describeArm(config, network)}`);
  const result = await train(config, {
    runDir,
    data: await ctx.data.forConfig(config),
    progress: ctx.options.progress(),
    ...extra,
  });
  const loss = await readScalars(runPaths(runDir).tensorboard, "train/loss");
  return { name, runDir, config, result, loss };
}

/** Adds scalars an experiment measured to an arm's TensorBoard run (a separate event file). */
export async function writeArmScalars(
  runDir: string,
  suffix: string,
  curves: Record<string, Curve>,
): Promise<void> {
  const writer = new SummaryWriter(runPaths(runDir).tensorboard, { filenameSuffix: `.${suffix}` });
  try {
    for (const [tag, curve] of Object.entries(curves)) {
      curve.steps.forEach((step, i) => {
        const v = curve.values[i]!;
        if (Number.isFinite(v)) writer.scalar(tag, v, step);
      });
    }
  } finally {
    await writer.close();
  }
}

function describeArm(c: TrainConfig, network?: string): string {
  const aug = [
    c.augment.crop && "crop",
    c.augment.flip && "flip",
    c.augment.cutout > 0 && `cutout ${c.augment.cutout}`,
  ]
    .filter(Boolean)
    .join("+");
  const model = network ?? `${c.model} [${c.widths.join(", ")}], shortcut ${c.shortcut}`;
  return `${model}, augment ${aug || "none"}, normalize ${c.normalize}, ${c.epochs} epochs × batch ${c.batchSize}`;
}
