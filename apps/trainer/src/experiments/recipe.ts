import { barChart, lineChart } from "@cnnkit/viz";
import { runPaths } from "../run-dir.js";
import { readScalarsByTag } from "../scalars.js";
import { type ArmResult, type ExperimentContext, runArm } from "./arm.js";
import { armConfig } from "./options.js";
import {
  type ExperimentResult,
  experimentFolder,
  num,
  pct,
  table,
  tensorboardHint,
  writeSummary,
} from "./summary.js";

const ARMS = [
  { name: "no-smoothing", labelSmoothing: 0, color: "#d62728" },
  { name: "smoothing-0.2", labelSmoothing: 0.2, color: "#1f77b4" },
] as const;

/** Reliability bins with fewer test images than this are not drawn. */
const MIN_BIN = 10;

/** EMA decay: an average over the last ~50 steps (1 / (1 − decay)), about one epoch here. */
const EMA_DECAY = 0.98;

interface RecipeArm extends ArmResult {
  color: string;
  gradNorm: { steps: number[]; values: number[] };
  rawAccuracy: { steps: number[]; values: number[] };
}

export async function recipeExperiment(ctx: ExperimentContext): Promise<ExperimentResult> {
  const { dir, pictures, save } = await experimentFolder(ctx.options.out, "recipe");
  const arms: RecipeArm[] = [];
  for (const spec of ARMS) {
    // A small training set seen many times without augmentation: the network memorises it and
    // grows over-confident on new images, the setting label smoothing is for.
    const config = armConfig(
      ctx.options,
      {
        trainSubset: 500 * ctx.options.scale,
        testSubset: 1000 * ctx.options.scale,
        epochs: 20,
        ema: EMA_DECAY,
        gradClip: 1,
        augment: { crop: false, flip: false, cutout: 0 },
      },
      { labelSmoothing: spec.labelSmoothing },
    );
    const arm = await runArm(ctx, "recipe", spec.name, config);
    const curves = await readScalarsByTag(runPaths(arm.runDir).tensorboard, [
      "train/grad_norm",
      "test/acc_raw_weights",
    ]);
    arms.push({
      ...arm,
      color: spec.color,
      gradNorm: curves["train/grad_norm"]!,
      rawAccuracy: curves["test/acc_raw_weights"]!,
    });
  }

  const c = arms[0]!.config;
  const clip = c.gradClip ?? Number.POSITIVE_INFINITY;
  const clippedShare = (a: RecipeArm) =>
    a.gradNorm.values.length
      ? a.gradNorm.values.filter((v) => v > clip).length / a.gradNorm.values.length
      : Number.NaN;
  const steps = arms[0]!.result.globalStep;

  await save(
    "clipping.png",
    lineChart({
      series: [
        ...arms.map((a) => ({
          name: `${a.name}: clipped ${pct(clippedShare(a))} of steps`,
          x: a.gradNorm.steps,
          y: a.gradNorm.values,
          color: a.color,
        })),
        {
          name: `clip threshold ${c.gradClip}`,
          x: [1, steps],
          y: [clip, clip],
          color: "#555555",
          dashed: true,
        },
      ],
      title:
        "Gradient norm before clipping, each step: above the dashed line the update was scaled down",
      xLabel: "step",
      yLabel: "global gradient L2 norm (log)",
      logY: true,
      smoothing: 0.9,
      width: 800,
    }),
  );

  const base = arms[0]!;
  const epochs = base.result.history.map((h) => h.epoch);
  await save(
    "ema.png",
    lineChart({
      series: arms.flatMap((a) => [
        {
          name: `${a.name}, EMA weights`,
          x: epochs,
          y: a.result.history.map((h) => h.testAccuracy),
          color: a.color,
        },
        {
          name: `${a.name}, raw weights`,
          // Logged at the global step each epoch ended on.
          x: a.rawAccuracy.steps.map((step) => step / a.result.stepsPerEpoch),
          y: a.rawAccuracy.values,
          color: a.color,
          dashed: true,
        },
      ]),
      title: `Test accuracy per epoch: moving average of the weights (decay ${EMA_DECAY}, solid) against the raw weights (dashed)`,
      xLabel: "epoch",
      yLabel: "test accuracy",
      width: 800,
    }),
  );

  const last = (a: RecipeArm) => a.result.history.at(-1);
  const calibration = (a: RecipeArm) => a.result.lastResult?.calibration ?? null;
  const diagonal = {
    name: "perfectly calibrated",
    x: [0, 1],
    y: [0, 1],
    color: "#999999",
    dashed: true,
  };
  await save(
    "calibration.png",
    lineChart({
      series: [
        ...arms.map((a) => {
          // A bin of a handful of images says nothing: those under MIN_BIN are left out.
          const bins = (calibration(a)?.bins ?? []).filter((b) => b.count >= MIN_BIN);
          return {
            name: `${a.name}: ECE ${pct(calibration(a)?.ece)}, mean confidence ${pct(calibration(a)?.meanConfidence)}, accuracy ${pct(last(a)?.testAccuracy)}`,
            x: bins.map((b) => b.confidence),
            y: bins.map((b) => b.accuracy),
            color: a.color,
          };
        }),
        diagonal,
      ],
      title: `Reliability on the test set (bins of ${MIN_BIN}+ images): below the diagonal = over-confident`,
      xLabel: "confidence of the top class (bin mean)",
      yLabel: "accuracy in the bin",
      yRange: [0, 1],
      width: 800,
    }),
  );
  await save(
    "confidence.png",
    barChart({
      labels: arms.flatMap((a) => [`${a.name} confidence`, `${a.name} accuracy`]),
      values: arms.flatMap((a) => [
        (calibration(a)?.meanConfidence ?? Number.NaN) * 100,
        (last(a)?.testAccuracy ?? Number.NaN) * 100,
      ]),
      colors: arms.flatMap((a) => [a.color, "#7f7f7f"]),
      title: "Mean confidence against accuracy on the test set: the gap is the over-confidence",
      yLabel: "%",
      valueText: (v) => `${v.toFixed(1)}%`,
      width: 720,
    }),
  );

  const numbers: Record<string, number | null> = {};
  for (const a of arms) {
    const cal = calibration(a);
    numbers[`${a.name}.testAccuracy`] = last(a)?.testAccuracy ?? null;
    numbers[`${a.name}.rawTestAccuracy`] = a.rawAccuracy.values.at(-1) ?? null;
    numbers[`${a.name}.ece`] = cal?.ece ?? null;
    numbers[`${a.name}.meanConfidence`] = cal?.meanConfidence ?? null;
    numbers[`${a.name}.clippedShare`] = clippedShare(a);
    numbers[`${a.name}.medianGradNorm`] = median(a.gradNorm.values);
  }
  const [plain, smooth] = arms as [RecipeArm, RecipeArm];
  const n = (name: string, key: string) => numbers[`${name}.${key}`] ?? null;
  const overconfidence = (a: RecipeArm) =>
    (n(a.name, "meanConfidence") ?? Number.NaN) - (n(a.name, "testAccuracy") ?? Number.NaN);
  // How the two jump around: the times test accuracy fell from one epoch to the next, and the largest fall.
  const falls = (values: readonly number[]) => {
    const drops = values
      .slice(1)
      .map((v, i) => values[i]! - v)
      .filter((d) => d > 0);
    return { count: drops.length, largest: drops.length ? Math.max(...drops) : 0 };
  };
  const emaLines = arms.map((a) => {
    const ema = a.result.history.map((h) => h.testAccuracy);
    const raw = a.rawAccuracy.values;
    const f = { ema: falls(ema), raw: falls(raw) };
    return `- \`${a.name}\`: from one epoch to the next the raw weights' test accuracy fell ${f.raw.count} times (at most ${num(f.raw.largest * 100, 1)} points), the average's ${f.ema.count} times (at most ${num(f.ema.largest * 100, 1)} points); after the first epoch ${pct(ema[0])} against ${pct(raw[0])}, after the last ${pct(ema.at(-1))} against ${pct(raw.at(-1))}.`;
  });
  const endGap = Math.max(
    ...arms.map((a) =>
      Math.abs((a.result.history.at(-1)?.testAccuracy ?? 0) - (a.rawAccuracy.values.at(-1) ?? 0)),
    ),
  );
  const markdown = `# Clipping, weight averaging, label smoothing

${c.model} [${c.widths.join(", ")}], ${c.epochs} epochs × ${base.result.stepsPerEpoch} steps (batch ${c.batchSize}, AdamW, OneCycleLR to ${c.maxLr}) over ${base.result.data.train.length} training images without augmentation (a small set seen many times, so the network memorises it), tested on ${base.result.data.test.length}. Two runs, identical but for label smoothing (0 and 0.2); both clip the global gradient norm at ${c.gradClip} and keep an exponential moving average of the weights (decay ${EMA_DECAY}), whose test accuracy is the one reported after each epoch.

## Clipping (\`clipping.png\`)

The gradient norm before clipping, every step, with the threshold dashed. Clipping fired on ${pct(clippedShare(plain))} of the steps without label smoothing and ${pct(clippedShare(smooth))} with it (median norm ${num(n(plain.name, "medianGradNorm"))} and ${num(n(smooth.name, "medianGradNorm"))}). ${
    clippedShare(plain) > 0.5
      ? "Clipping that fires on most steps rescales most updates: with AdamW, whose step size does not depend on the gradient's scale, that changes little; with SGD it would act as a lower learning rate."
      : "Clipping that fires rarely is a guard against the occasional bad batch, not part of the optimisation; set it from such a picture, a little above the typical norm."
  }

## Weight averaging (\`ema.png\`)

Solid: the moving average of the weights; dashed: the weights the optimizer holds, both on the same test images after each epoch.
${emaLines.join("\n")}
An average of the last ~${Math.round(1 / (1 - EMA_DECAY))} steps' weights irons out their step-to-step noise: its curve is the smoother one, and it lags at the start, when it still remembers the first weights. ${
    endGap < 0.01
      ? `The two ended within ${num(endGap * 100, 1)} points: OneCycleLR anneals the lr to nearly zero, so at the end the raw weights stop moving and become their own average — an EMA adds little to such a schedule.`
      : `The two ended ${num(endGap * 100, 1)} points apart.`
  } It pays off with a constant or slowly decaying learning rate, or when a run may be stopped (and evaluated) at any time.

## Label smoothing and calibration (\`calibration.png\`, \`confidence.png\`)

Without smoothing the network's mean confidence on the test set was ${pct(n(plain.name, "meanConfidence"))} for an accuracy of ${pct(n(plain.name, "testAccuracy"))} (${overconfidence(plain) >= 0 ? `over-confident by ${num(overconfidence(plain) * 100, 1)} points` : `under-confident by ${num(-overconfidence(plain) * 100, 1)} points`}, expected calibration error ${pct(n(plain.name, "ece"))}); with label smoothing 0.2, ${pct(n(smooth.name, "meanConfidence"))} for ${pct(n(smooth.name, "testAccuracy"))} (${overconfidence(smooth) >= 0 ? `over-confident by ${num(overconfidence(smooth) * 100, 1)} points` : `under-confident by ${num(-overconfidence(smooth) * 100, 1)} points`}, ECE ${pct(n(smooth.name, "ece"))}). Label smoothing trains towards 0.82 on the true class and 0.02 on each other instead of 1 and 0, so it caps how confident the network learns to be: ${
    (n(smooth.name, "ece") ?? 1) < (n(plain.name, "ece") ?? 0)
      ? "here that brought confidence closer to accuracy."
      : "here that did not improve calibration — a network that is not over-confident to begin with (too little training) is pushed towards under-confidence instead."
  } In the reliability picture a curve below the diagonal is over-confident, above it under-confident.

${table(
  ["arm", "test acc (EMA)", "test acc (raw)", "mean confidence", "ECE", "steps clipped"],
  arms.map((a) => [
    a.name,
    pct(n(a.name, "testAccuracy")),
    pct(n(a.name, "rawTestAccuracy")),
    pct(n(a.name, "meanConfidence")),
    pct(n(a.name, "ece")),
    pct(clippedShare(a)),
  ]),
)}

${tensorboardHint(dir)}
`;
  const summary = await writeSummary(dir, markdown, numbers);
  return { experiment: "recipe", dir, summary, pictures, numbers };
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
