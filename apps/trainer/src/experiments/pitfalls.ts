// Two pitfalls shown, not told, each against the correct run: wrong normalisation statistics
// (in training, and at inference for a correctly trained model), and a OneCycleLR built for
// fewer steps than the loop runs.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { AdamW } from "@cnnkit/optim";
import { OneCycleLR, ScheduleError } from "@cnnkit/schedulers";
import { lineChart, savePicture } from "@cnnkit/viz";
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

/** Mean loss over the steps in (from − window, from]. */
function lossAround(curve: Curve, at: number, window: number): number {
  const v = curve.values.filter((_, i) => curve.steps[i]! <= at && curve.steps[i]! > at - window);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
}

export async function pitfallsExperiment(ctx: ExperimentContext): Promise<ExperimentResult> {
  const dir = join(ctx.options.out, "pitfalls");
  await mkdir(dir, { recursive: true });

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
  const pictures: string[] = [];
  const save = async (name: string, picture: Parameters<typeof savePicture>[0]) => {
    const path = join(dir, name);
    await savePicture(picture, path);
    pictures.push(path);
  };
  await save(
    "loss.png",
    lineChart({
      series: arms.map((a) => ({ name: a.name, x: a.loss.steps, y: a.loss.values })),
      title: "Training loss: correct run and the two pitfalls",
      xLabel: "step",
      yLabel: "loss",
      smoothing: 0.6,
    }),
  );
  await save(
    "lr.png",
    lineChart({
      series: [
        { name: `correct (${total} steps)`, x: correctLr.steps, y: correctLr.values },
        {
          name: `schedule built for ${mismatch.scheduleSteps} steps`,
          x: mismatch.lr.steps,
          y: mismatch.lr.values,
        },
      ],
      title: "Learning rate the optimizer used",
      xLabel: "step",
      yLabel: "lr",
      logY: true,
    }),
  );
  await save(
    "test-accuracy.png",
    lineChart({
      series: arms.map((a) => ({
        name: a.name,
        x: a.result.history.map((r) => r.epoch),
        y: a.result.history.map((r) => r.testAccuracy),
      })),
      title: "Test accuracy per epoch",
      xLabel: "epoch",
      yLabel: "accuracy",
    }),
  );

  const at = mismatch.exhaustedAt ?? mismatch.scheduleSteps;
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
    "mismatch.finalTrainLoss": tailMean(mis.loss.values),
    "mismatch.testAccuracy": mis.result.history.at(-1)?.testAccuracy ?? null,
    "mismatch.lossDropAfterExhaustion": drop(mis),
    "correct.lossDropAfterSameStep": drop(correct),
  };
  const markdown = `# Normalisation and scheduler pitfalls

${c.model} [${c.widths.join(", ")}], ${c.epochs} epochs × ${correct.result.stepsPerEpoch} steps (batch ${c.batchSize}) on ${correct.result.data.train.length} training images, tested on ${correct.result.data.test.length}. Every arm starts from the same weights and sees the same batches.

## Wrong normalisation

- Training on pixels/255 (no mean subtracted, no division by CIFAR-10's per-channel std): final training loss ${num(numbers["noNormalization.finalTrainLoss"])} against ${num(numbers["correct.finalTrainLoss"])}, test accuracy ${pct(numbers["noNormalization.testAccuracy"])} against ${pct(numbers["correct.testAccuracy"])}.
- At inference: the correctly trained model scored ${pct(rightStats)} on test images normalised as in training and ${pct(wrongStats)} on the same images without its statistics (${num(Math.abs(rightStats - wrongStats) * 100, 1)} points ${wrongStats <= rightStats ? "lost" : "gained"}). This is why the export manifest carries the statistics.

## OneCycleLR with the wrong total

The schedule was built for ${mismatch.scheduleSteps} steps (stepsPerEpoch computed for twice the batch size); the loop ran ${total}. ${
    mismatch.exhaustedAt === null
      ? "It never ran out."
      : `At step ${mismatch.exhaustedAt + 1} its \`step()\` threw (\`${(mismatch.error ?? "").split(".")[0]}.\`); caught, the lr stayed at the value the schedule ended on, ${num(numbers["mismatch.floorLr"])}, for the remaining ${after} steps (${pct(after / total)} of the run).`
  } Over those steps the training loss fell by ${num(numbers["mismatch.lossDropAfterExhaustion"])} in this arm and by ${num(numbers["correct.lossDropAfterSameStep"])} in the correct run (mean of the ${window} steps up to step ${at} minus the mean of the last 20%). Final test accuracy ${pct(numbers["mismatch.testAccuracy"])} against ${pct(numbers["correct.testAccuracy"])}.

The trainer itself cannot make this mistake: it takes stepsPerEpoch from the loader and checks at the end that the schedule ran exactly epochs × stepsPerEpoch steps. The mismatched schedule here drives the optimizer through the loop's gradient hook; the arm's TensorBoard \`lr\` is the trainer's schedule, \`pitfall/effective_lr\` the one the optimizer used.

${table(
  ["arm", "final train loss", "last test acc"],
  arms.map((a) => [
    a.name,
    num(tailMean(a.loss.values)),
    pct(a.result.history.at(-1)?.testAccuracy),
  ]),
)}

Pictures: \`loss.png\`, \`lr.png\`, \`test-accuracy.png\`.

${tensorboardHint(dir)}
`;
  const summary = await writeSummary(dir, markdown, numbers);
  return { experiment: "pitfalls", dir, summary, pictures, numbers };
}
