import { AdamW } from "@cnnkit/optim";
import { OneCycleLR, ScheduleError } from "@cnnkit/schedulers";
import { barChart, lineChart } from "@cnnkit/viz";
import { loadInferenceWeights } from "../checkpoint.js";
import { testBatches } from "../data.js";
import { evaluate } from "../evaluate.js";
import { buildModel } from "../model.js";
import { runPaths } from "../run-dir.js";
import {
  type ArmResult,
  type Curve,
  type ExperimentContext,
  readScalars,
  runArm,
  writeArmScalars,
} from "./arm.js";
import { armConfig } from "./options.js";
import {
  type ExperimentResult,
  experimentFolder,
  num,
  pct,
  table,
  tailMean,
  tensorboardHint,
  writeSummary,
} from "./summary.js";

/** The mis-sized schedule's story: what it was built for, and when it ran out. */
interface Mismatch {
  scheduleSteps: number;
  loopSteps: number;
  /** Steps taken when `step()` threw (null if it never did). */
  exhaustedAt: number | null;
  error: string | null;
  /** The lr the optimizer really used at each step. */
  lr: Curve;
}

/** A difference of two accuracies, in signed percentage points. */
function points(x: number): string {
  return `${x >= 0 ? "+" : "−"}${num(Math.abs(x) * 100, 1)} points`;
}

/** A loss decrease (positive) or increase, in words: never "fell by -0.05". */
function change(drop: number | null | undefined): string {
  if (drop === null || drop === undefined || !Number.isFinite(drop)) return "changed by n/a";
  return drop >= 0 ? `fell by ${num(drop)}` : `rose by ${num(-drop)}`;
}

/** Mean loss over the steps in (from − window, from]. */
function lossAround(curve: Curve, at: number, window: number): number {
  const v = curve.values.filter((_, i) => curve.steps[i]! <= at && curve.steps[i]! > at - window);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
}

export async function pitfallsExperiment(ctx: ExperimentContext): Promise<ExperimentResult> {
  const { dir, pictures, save } = await experimentFolder(ctx.options.out, "pitfalls");

  const correct = await runArm(ctx, "pitfalls", "correct", armConfig(ctx.options, {}));
  const noNorm = await runArm(
    ctx,
    "pitfalls",
    "no-normalization",
    armConfig(ctx.options, {}, { normalize: "none" }),
  );

  // The inference half of the normalisation pitfall: the correct model, fed test images without
  // the statistics it was trained with (what happens when they do not travel with the model).
  const c = correct.config;
  const model = buildModel(c, correct.result.data.classNames.length);
  let rightStats: number;
  let wrongStats: number;
  try {
    await loadInferenceWeights(runPaths(correct.runDir).best, model);
    const { test, classNames } = correct.result.data;
    rightStats = (await evaluate(model, testBatches(test, c), classNames)).accuracy;
    wrongStats = (await evaluate(model, testBatches(test, { ...c, normalize: "none" }), classNames))
      .accuracy;
  } finally {
    model.dispose();
  }

  // The schedule pitfall: a OneCycleLR whose total was computed by hand for half the batches the
  // loader yields (stepsPerEpoch from twice the batch size). The trainer's own schedule still
  // runs its course (its guard stays on); this one drives the optimizer through the gradient
  // hook, which runs after the loop set the lr and before the update.
  const total = correct.result.globalStep;
  const wrongStepsPerEpoch = Math.ceil(correct.result.data.train.length / (2 * c.batchSize));
  const wrong = new OneCycleLR({
    maxLr: c.maxLr,
    epochs: c.epochs,
    stepsPerEpoch: wrongStepsPerEpoch,
    pctStart: c.pctStart,
  });
  const mismatch: Mismatch = {
    scheduleSteps: wrong.totalSteps,
    loopSteps: total,
    exhaustedAt: null,
    error: null,
    lr: { steps: [], values: [] },
  };
  const mis = await runArm(ctx, "pitfalls", "onecycle-mismatch", armConfig(ctx.options, {}), {
    onGradients: ({ step, optimizer }) => {
      while (wrong.stepCount < step && mismatch.exhaustedAt === null) {
        try {
          wrong.step();
        } catch (error) {
          // PyTorch raises here too; a loop that swallows it (or a schedule that clamps) keeps
          // the last lr, the end of the anneal (about maxLr / 25 / 1e4): the collapse this arm shows.
          if (!ScheduleError.isInstance(error) || error.code !== "too_many_steps") throw error;
          mismatch.exhaustedAt = wrong.stepCount;
          mismatch.error = error.message;
        }
      }
      optimizer.learningRate = wrong.lr;
      const m = wrong.momentum;
      if (m !== undefined) {
        if (optimizer instanceof AdamW) optimizer.beta1 = m;
        else optimizer.momentum = m;
      }
      mismatch.lr.steps.push(step + 1);
      mismatch.lr.values.push(wrong.lr);
    },
  });
  await writeArmScalars(mis.runDir, "effective_lr", { "pitfall/effective_lr": mismatch.lr });
  const correctLr = await readScalars(runPaths(correct.runDir).tensorboard, "lr");

  const arms: ArmResult[] = [correct, noNorm, mis];
  const at = mismatch.exhaustedAt ?? mismatch.scheduleSteps;
  // A vertical line where the mis-sized schedule ran out, drawn as a two-point series.
  const ranOut = (lo: number, hi: number) => ({
    name: `schedule ran out (step ${at + 1})`,
    x: [at + 1, at + 1],
    y: [lo, hi],
    color: "#999999",
    dashed: true,
  });
  await save(
    "normalization.png",
    barChart({
      labels: [
        "trained and tested with the statistics",
        "same weights, tested without them",
        "trained and tested on pixels/255",
      ],
      values: [
        rightStats * 100,
        wrongStats * 100,
        (noNorm.result.history.at(-1)?.testAccuracy ?? Number.NaN) * 100,
      ],
      colors: ["#1f77b4", "#d62728", "#7f7f7f"],
      title: `Wrong statistics at inference: the same model, ${pct(rightStats)} → ${pct(wrongStats)} (chance 10%)`,
      yLabel: "test accuracy (%)",
      yRange: [0, Math.max(50, Math.ceil((rightStats * 100) / 10) * 10)],
      valueText: (v) => `${v.toFixed(1)}%`,
      width: 720,
    }),
  );
  const lrValues = [...correctLr.values, ...mismatch.lr.values].filter((v) => v > 0);
  await save(
    "lr.png",
    lineChart({
      series: [
        {
          name: `correct: OneCycleLR over the loop's ${total} steps`,
          x: correctLr.steps,
          y: correctLr.values,
        },
        {
          name: `OneCycleLR built for ${mismatch.scheduleSteps} steps`,
          x: mismatch.lr.steps,
          y: mismatch.lr.values,
          color: "#d62728",
        },
        ...(mismatch.exhaustedAt === null
          ? []
          : [ranOut(Math.min(...lrValues), Math.max(...lrValues))]),
      ],
      title: "Learning rate the optimizer used at each step (log scale)",
      xLabel: "step",
      yLabel: "learning rate",
      logY: true,
      width: 760,
    }),
  );
  const losses = arms.flatMap((a) => a.loss.values).filter(Number.isFinite);
  const lossRange = [Math.min(...losses), Math.max(...losses)] as const;
  await save(
    "loss.png",
    lineChart({
      series: [
        ...arms.map((a, i) => ({
          name: a.name,
          x: a.loss.steps,
          y: a.loss.values,
          color: ["#1f77b4", "#7f7f7f", "#d62728"][i]!,
        })),
        ...(mismatch.exhaustedAt === null ? [] : [ranOut(lossRange[0], lossRange[1])]),
      ],
      title: "Training loss per step (smoothed): the correct run and the two pitfalls",
      xLabel: "step",
      yLabel: "training loss",
      smoothing: 0.9,
      width: 760,
    }),
  );

  const window = Math.max(1, Math.round(at / 5));
  const drop = (a: ArmResult) => lossAround(a.loss, at, window) - tailMean(a.loss.values);
  const after = total - at;
  const numbers: Record<string, number | null> = {
    "correct.finalTrainLoss": tailMean(correct.loss.values),
    "correct.testAccuracy": correct.result.history.at(-1)?.testAccuracy ?? null,
    "noNormalization.finalTrainLoss": tailMean(noNorm.loss.values),
    "noNormalization.testAccuracy": noNorm.result.history.at(-1)?.testAccuracy ?? null,
    "inference.rightStatsAccuracy": rightStats,
    "inference.wrongStatsAccuracy": wrongStats,
    "mismatch.scheduleSteps": mismatch.scheduleSteps,
    "mismatch.loopSteps": total,
    "mismatch.exhaustedAt": mismatch.exhaustedAt,
    "mismatch.floorLr": mismatch.lr.values.at(-1) ?? null,
    "mismatch.lowestLr": mismatch.lr.values.length ? Math.min(...mismatch.lr.values) : null,
    "mismatch.finalTrainLoss": tailMean(mis.loss.values),
    "mismatch.testAccuracy": mis.result.history.at(-1)?.testAccuracy ?? null,
    "mismatch.lossDropAfterExhaustion": drop(mis),
    "correct.lossDropAfterSameStep": drop(correct),
  };
  const markdown = `# Normalisation and scheduler pitfalls

${c.model} [${c.widths.join(", ")}], ${c.epochs} epochs × ${correct.result.stepsPerEpoch} steps (batch ${c.batchSize}) on ${correct.result.data.train.length} training images, tested on ${correct.result.data.test.length}. Every arm starts from the same weights and sees the same batches.

## Wrong normalisation (\`normalization.png\`)

- At inference — the case that bites: the correctly trained model scored ${pct(rightStats)} on test images normalised as in training and ${pct(wrongStats)} on the same images fed as pixels/255, without its statistics (${points(wrongStats - rightStats)}; chance is 10%). Same weights, same images: the inputs simply no longer look like anything the network was trained on. This is why the export manifest carries the statistics and \`predict\` applies them.
- In training, it hardly matters: the arm trained on pixels/255 (and tested the same way) reached a training loss of ${num(numbers["noNormalization.finalTrainLoss"])} against ${num(numbers["correct.finalTrainLoss"])} and test accuracy ${pct(numbers["noNormalization.testAccuracy"])} against ${pct(numbers["correct.testAccuracy"])}, which is why the loss curves overlap. The BatchNorm after the first convolution re-centres and re-scales whatever comes in, so a network with BatchNorm learns the shift and scale away; one without it (or a much deeper, larger-lr run) would feel it more. Normalising is cheap insurance while training; *the same* normalisation at inference is not optional.

## OneCycleLR with the wrong total (\`lr.png\`, \`loss.png\`)

The schedule was built for ${mismatch.scheduleSteps} steps (stepsPerEpoch computed by hand for twice the batch size); the loop ran ${total}. ${
    mismatch.exhaustedAt === null
      ? "It never ran out."
      : `At step ${mismatch.exhaustedAt + 1} its \`step()\` threw (\`${(mismatch.error ?? "").split(".")[0]}.\`); a loop that catches that and carries on keeps the optimizer at the schedule's last value, ${num(numbers["mismatch.floorLr"])}, for the remaining ${after} steps (${pct(after / total)} of the run). In \`lr.png\` the red curve first falls to ${num(numbers["mismatch.lowestLr"])} (the floor, maxLr / 25 / 10⁴, at step ${mismatch.scheduleSteps}) and then rises back to ${num(numbers["mismatch.floorLr"])}: after exactly ${mismatch.scheduleSteps} \`step()\` calls OneCycleLR evaluates its cosine one step past the end of its last phase, where the cosine turns up again. PyTorch's OneCycleLR computes the same value there; either way the lr is about ${num(((numbers["mismatch.floorLr"] ?? 0) / c.maxLr) * 100, 2)}% of its peak, far too small to learn with.`
  } Over those steps the training loss ${change(numbers["mismatch.lossDropAfterExhaustion"])} in this arm and ${change(numbers["correct.lossDropAfterSameStep"])} in the correct run (mean of the ${window} steps up to step ${at} minus the mean of the last 20%). Final test accuracy ${pct(numbers["mismatch.testAccuracy"])} against ${pct(numbers["correct.testAccuracy"])}.

The trainer itself cannot make this mistake: it takes stepsPerEpoch from the loader and checks at the end that the schedule ran exactly epochs × stepsPerEpoch steps. The mismatched schedule here drives the optimizer through the loop's gradient hook; the arm's TensorBoard \`lr\` is the trainer's schedule, \`pitfall/effective_lr\` the one the optimizer used.

${table(
  ["arm", "final train loss", "last test acc"],
  arms.map((a) => [
    a.name,
    num(tailMean(a.loss.values)),
    pct(a.result.history.at(-1)?.testAccuracy),
  ]),
)}

Pictures: \`normalization.png\`, \`lr.png\`, \`loss.png\`.

${tensorboardHint(dir)}
`;
  const summary = await writeSummary(dir, markdown, numbers);
  return { experiment: "pitfalls", dir, summary, pictures, numbers };
}
