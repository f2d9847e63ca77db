// Data augmentation: the same run without augmentation, with crop + flip, and with cutout too;
// accuracy on the (un-augmented) training images against the test images, and the gap.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { barChart, lineChart, savePicture } from "@cnnkit/viz";
import type { ConfigPatch } from "../config.js";
import { testBatches } from "../data.js";
import { evaluate } from "../evaluate.js";
import { type ArmResult, type ExperimentContext, runArm, writeArmScalars } from "./arm.js";
import { armConfig } from "./options.js";
import {
  type ExperimentResult,
  num,
  pct,
  table,
  tensorboardHint,
  writeSummary,
} from "./summary.js";

const ARMS: { name: string; augment: ConfigPatch["augment"] }[] = [
  { name: "none", augment: { crop: false, flip: false, cutout: 0 } },
  { name: "crop-flip", augment: { crop: true, padding: 4, flip: true, cutout: 0 } },
  { name: "crop-flip-cutout", augment: { crop: true, padding: 4, flip: true, cutout: 8 } },
];

interface AugmentationArm extends ArmResult {
  /** Accuracy on the training images as they are (no augmentation), after each epoch. */
  cleanTrainAccuracy: number[];
}

/** A difference of two accuracies, in percentage points. */
function points(x: number): string {
  return `${num(x * 100, 1)} points`;
}

export async function augmentationExperiment(ctx: ExperimentContext): Promise<ExperimentResult> {
  const dir = join(ctx.options.out, "augmentation");
  await mkdir(dir, { recursive: true });
  const arms: AugmentationArm[] = [];
  for (const arm of ARMS) {
    // Several passes over a small subset: the regime where a network memorises and the gap shows.
    const config = armConfig(ctx.options, { epochs: 4 }, { augment: arm.augment });
    const data = await ctx.data.forConfig(config);
    const clean: number[] = [];
    const steps: number[] = []; // the global step each epoch ended on, the run's step axis
    const result = await runArm(ctx, "augmentation", arm.name, config, {
      // The loop's own train accuracy is measured on augmented images while the weights move;
      // the gap is about the images themselves, so measure them the way the test set is.
      afterEpoch: async ({ model, step }) => {
        clean.push(
          (await evaluate(model, testBatches(data.train, config), data.classNames)).accuracy,
        );
        steps.push(step);
      },
    });
    await writeArmScalars(result.runDir, "clean_train", {
      "epoch/train_acc_clean": { steps, values: clean },
      "epoch/generalization_gap": {
        steps,
        values: clean.map((c, i) => c - (result.result.history[i]?.testAccuracy ?? Number.NaN)),
      },
    });
    arms.push({ ...result, cleanTrainAccuracy: clean });
  }

  const pictures: string[] = [];
  const save = async (name: string, picture: Parameters<typeof savePicture>[0]) => {
    const path = join(dir, name);
    await savePicture(picture, path);
    pictures.push(path);
  };
  await save(
    "accuracy.png",
    lineChart({
      series: arms.flatMap((a) => {
        const x = a.result.history.map((r) => r.epoch);
        return [
          { name: `${a.name} train`, x, y: a.cleanTrainAccuracy },
          {
            name: `${a.name} test`,
            x,
            y: a.result.history.map((r) => r.testAccuracy),
            dashed: true,
          },
        ];
      }),
      title: "Train (solid) and test (dashed) accuracy per epoch",
      xLabel: "epoch",
      yLabel: "accuracy",
    }),
  );
  const gap = (a: AugmentationArm) =>
    (a.cleanTrainAccuracy.at(-1) ?? Number.NaN) -
    (a.result.history.at(-1)?.testAccuracy ?? Number.NaN);
  await save(
    "gap.png",
    barChart({
      labels: arms.map((a) => a.name),
      values: arms.map((a) => gap(a) * 100),
      title: "Generalisation gap after the last epoch",
      yLabel: "train − test accuracy (points)",
    }),
  );

  const numbers: Record<string, number | null> = {};
  for (const a of arms) {
    numbers[`${a.name}.trainAccuracy`] = a.cleanTrainAccuracy.at(-1) ?? null;
    numbers[`${a.name}.augmentedTrainAccuracy`] = a.result.history.at(-1)?.trainAccuracy ?? null;
    numbers[`${a.name}.testAccuracy`] = a.result.history.at(-1)?.testAccuracy ?? null;
    numbers[`${a.name}.gap`] = gap(a);
  }
  const [none, ...augmented] = arms as [AugmentationArm, ...AugmentationArm[]];
  const lines = augmented.map((a) => {
    const d = gap(a) - gap(none);
    const t =
      (a.result.history.at(-1)?.testAccuracy ?? 0) -
      (none.result.history.at(-1)?.testAccuracy ?? 0);
    return `- \`${a.name}\`: gap ${points(gap(a))} (${d <= 0 ? "narrower" : "wider"} by ${num(Math.abs(d) * 100, 1)} points than without augmentation), test accuracy ${t >= 0 ? "+" : "−"}${num(Math.abs(t) * 100, 1)} points.`;
  });
  const c = none.config;
  const markdown = `# Data augmentation

${c.model} [${c.widths.join(", ")}], ${c.epochs} epochs over ${none.result.data.train.length} training images (batch ${c.batchSize}), tested on ${none.result.data.test.length}; the arms differ only in augmentation. "train" is the accuracy on the training images without augmentation, measured after each epoch like the test accuracy; the gap is train − test after the last epoch.

Without augmentation the gap was ${points(gap(none))} (train ${pct(none.cleanTrainAccuracy.at(-1))}, test ${pct(none.result.history.at(-1)?.testAccuracy)}).
${lines.join("\n")}

${table(
  ["arm", "train acc", "train acc (augmented, during the epoch)", "test acc", "gap (points)"],
  arms.map((a) => [
    a.name,
    pct(a.cleanTrainAccuracy.at(-1)),
    pct(a.result.history.at(-1)?.trainAccuracy),
    pct(a.result.history.at(-1)?.testAccuracy),
    points(gap(a)),
  ]),
)}

Pictures: \`accuracy.png\` (curves per epoch), \`gap.png\`.

${tensorboardHint(dir)}
`;
  const summary = await writeSummary(dir, markdown, numbers);
  return { experiment: "augmentation", dir, summary, pictures, numbers };
}
