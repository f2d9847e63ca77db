// Residual connections: the same deep network with and without shortcuts, trained for the same
// steps on the same batches; loss curves and per-block gradient norms over training for both.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  GradientNormHistory,
  gradientNormChart,
  gradientNormProfile,
  gradientNormsByBlock,
} from "@cnnkit/explain";
import { lineChart, savePicture } from "@cnnkit/viz";
import { type ArmResult, type ExperimentContext, runArm, writeArmScalars } from "./arm.js";
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

const ARMS = [
  { name: "residual", shortcut: "auto" },
  { name: "plain", shortcut: "none" },
] as const;

interface ResidualArm extends ArmResult {
  history: GradientNormHistory;
  /** The first and last residual blocks of the network. */
  firstBlock: string;
  lastBlock: string;
  firstMean: number;
  lastMean: number;
}

function mean(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite);
  return finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : Number.NaN;
}

export async function residualsExperiment(ctx: ExperimentContext): Promise<ExperimentResult> {
  const dir = join(ctx.options.out, "residuals");
  await mkdir(dir, { recursive: true });
  const arms: ResidualArm[] = [];
  for (const arm of ARMS) {
    // A 20-layer CIFAR ResNet by default: deep enough for the plain version to struggle.
    const config = armConfig(
      ctx.options,
      { model: "resnet20", widths: [8, 16, 32] },
      { shortcut: arm.shortcut },
    );
    const history = new GradientNormHistory();
    const every = ctx.options.gradEvery;
    const result = await runArm(ctx, "residuals", arm.name, config, {
      onGradients: ({ step, grads, model }) => {
        if (step % every === 0) history.record(step, gradientNormsByBlock(grads, model));
      },
    });
    const blocks = history.groups.filter((g) => g.startsWith("stage"));
    const firstBlock = blocks[0] ?? "stem";
    const lastBlock = blocks.at(-1) ?? "logits";
    arms.push({
      ...result,
      history,
      firstBlock,
      lastBlock,
      firstMean: mean(history.norms(firstBlock)),
      lastMean: mean(history.norms(lastBlock)),
    });
    await writeFile(
      join(result.runDir, "grad-norms.json"),
      `${JSON.stringify(history.stateDict())}\n`,
    );
    // The norms beside the loss in the arm's own TensorBoard run.
    await writeArmScalars(
      result.runDir,
      "grad_norms",
      Object.fromEntries(
        history.groups.map((g) => [
          `grad_norm/${g}`,
          { steps: [...history.steps], values: [...history.norms(g)] },
        ]),
      ),
    );
  }

  const pictures: string[] = [];
  const save = async (name: string, picture: Parameters<typeof savePicture>[0]) => {
    const path = join(dir, name);
    await savePicture(picture, path);
    pictures.push(path);
  };
  const model = arms[0]!.config.model;
  await save(
    "loss.png",
    lineChart({
      series: arms.map((a) => ({ name: a.name, x: a.loss.steps, y: a.loss.values })),
      title: `Training loss, ${model} with and without shortcuts`,
      xLabel: "step",
      yLabel: "loss",
      smoothing: 0.6,
    }),
  );
  for (const a of arms) {
    await save(
      `grad-norms-${a.name}.png`,
      gradientNormChart(a.history, { title: `Gradient norm per block, ${a.name}` }),
    );
    await save(
      `grad-profile-${a.name}.png`,
      gradientNormProfile(a.history, { title: `Gradient norm by depth, ${a.name}` }),
    );
  }
  await save(
    "grad-norms-first-last.png",
    lineChart({
      series: arms.flatMap((a) => [
        {
          name: `${a.name} ${a.firstBlock}`,
          x: [...a.history.steps],
          y: [...a.history.norms(a.firstBlock)],
        },
        {
          name: `${a.name} ${a.lastBlock}`,
          x: [...a.history.steps],
          y: [...a.history.norms(a.lastBlock)],
          dashed: true,
        },
      ]),
      title: "Gradient norm of the first and last block",
      xLabel: "step",
      yLabel: "L2 norm",
      logY: true,
      smoothing: 0.6,
    }),
  );

  const [res, plain] = arms as [ResidualArm, ResidualArm];
  const numbers: Record<string, number | null> = {};
  for (const a of arms) {
    numbers[`${a.name}.finalTrainLoss`] = tailMean(a.loss.values);
    numbers[`${a.name}.lastTestAccuracy`] = a.result.history.at(-1)?.testAccuracy ?? null;
    numbers[`${a.name}.firstBlockGradNorm`] = a.firstMean;
    numbers[`${a.name}.lastBlockGradNorm`] = a.lastMean;
    numbers[`${a.name}.firstToLastRatio`] = a.firstMean / a.lastMean;
  }
  const steps = res.result.globalStep;
  const lossR = tailMean(res.loss.values);
  const lossP = tailMean(plain.loss.values);
  const ratioR = res.firstMean / res.lastMean;
  const ratioP = plain.firstMean / plain.lastMean;
  const lossLine =
    Math.abs(lossR - lossP) <= 0.02 * Math.max(lossR, lossP)
      ? `both ended at about the same training loss (${num(lossR)} with shortcuts, ${num(lossP)} without; test accuracy ${pct(res.result.history.at(-1)?.testAccuracy)} and ${pct(plain.result.history.at(-1)?.testAccuracy)})`
      : `the ${lossR < lossP ? "residual" : "plain"} network ended lower: training loss ${num(Math.min(lossR, lossP))} against ${num(Math.max(lossR, lossP))} (mean of the last 20% of steps); test accuracy ${pct(res.result.history.at(-1)?.testAccuracy)} with shortcuts, ${pct(plain.result.history.at(-1)?.testAccuracy)} without`;
  const gradLine =
    `The first block (${res.firstBlock}) received ${num(ratioR, 2)}× the gradient norm of the last (${res.lastBlock}) with shortcuts, ` +
    `${num(ratioP, 2)}× without` +
    (Number.isFinite(ratioR) && Number.isFinite(ratioP) && ratioR > 0
      ? `. Relative to its last block, the plain network's first block got ${num(ratioP / ratioR, 2)}× what the residual network's did: ` +
        (ratioP < ratioR
          ? "less gradient reached the early layers without shortcuts."
          : "at this size and length, the shortcuts did not give the early layers relatively more gradient.")
      : ".");
  const markdown = `# Residual connections

${model} [${res.config.widths.join(", ")}], ${steps} steps of batch ${res.config.batchSize} on ${res.result.data.train.length} training images, once with shortcuts (\`shortcut: "auto"\`) and once without (\`"none"\`); same initial seed, same batches. Gradient norms (L2, per block, before clipping) every ${ctx.options.gradEvery} step(s).

After ${steps} steps ${lossLine}. ${gradLine}

${table(
  [
    "arm",
    "final train loss",
    "last test acc",
    `grad norm ${res.firstBlock}`,
    `grad norm ${res.lastBlock}`,
    "first/last",
  ],
  arms.map((a) => [
    a.name,
    num(tailMean(a.loss.values)),
    pct(a.result.history.at(-1)?.testAccuracy),
    num(a.firstMean, 4),
    num(a.lastMean, 4),
    num(a.firstMean / a.lastMean, 2),
  ]),
)}

Pictures: \`loss.png\`, \`grad-norms-first-last.png\`, \`grad-norms-<arm>.png\` (every block over steps), \`grad-profile-<arm>.png\` (norm against depth at the first, middle and last step).

${tensorboardHint(dir)}
`;
  const summary = await writeSummary(dir, markdown, numbers);
  return { experiment: "residuals", dir, summary, pictures, numbers };
}
