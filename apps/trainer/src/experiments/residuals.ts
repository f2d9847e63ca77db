// Residual connections: the same ResNet trained five ways on the same batches — without
// BatchNorm: with its identity shortcuts, with them removed, with a broken one (a projection of
// the wrong tensor); and with BatchNorm: plain and residual, @cnnkit/resnet's own networks.
// Without BatchNorm the plain network does not train and the residual one does: the textbook
// effect. With BatchNorm the plain network trains too, which is what the BatchNorm arms show.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GradientNormHistory, gradientNormChart, gradientNormsByBlock } from "@cnnkit/explain";
import { barChart, lineChart } from "@cnnkit/viz";
import type { ModelName } from "../config.js";
import { TrainerError } from "../errors.js";
import { type ArmResult, type ExperimentContext, runArm, writeArmScalars } from "./arm.js";
import { type NoNormShortcut, noNormResNet } from "./no-norm-resnet.js";
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

interface ArmSpec {
  name: string;
  /** What the arm is, for the summary's table. */
  what: string;
  batchNorm: boolean;
  /** Without BatchNorm: the builder's shortcut; with it, @cnnkit/resnet's. */
  shortcut: NoNormShortcut;
  color: string;
  dashed: boolean;
}

const BLUE = "#1f77b4";
const RED = "#d62728";
const ORANGE = "#ff7f0e";

const ARMS: readonly ArmSpec[] = [
  {
    name: "residual",
    what: "no BatchNorm, identity shortcuts",
    batchNorm: false,
    shortcut: "identity",
    color: BLUE,
    dashed: false,
  },
  {
    name: "plain",
    what: "no BatchNorm, shortcuts removed",
    batchNorm: false,
    shortcut: "none",
    color: RED,
    dashed: false,
  },
  {
    name: "broken-shortcut",
    what: "no BatchNorm, each shortcut a projection of the block's output instead of its input",
    batchNorm: false,
    shortcut: "wrong-projection",
    color: ORANGE,
    dashed: false,
  },
  {
    name: "plain-batchnorm",
    what: 'BatchNorm, shortcuts removed (`shortcut: "none"`)',
    batchNorm: true,
    shortcut: "none",
    color: RED,
    dashed: true,
  },
  {
    name: "residual-batchnorm",
    what: "BatchNorm, identity shortcuts: @cnnkit/resnet's network",
    batchNorm: true,
    shortcut: "identity",
    color: BLUE,
    dashed: true,
  },
];

/** Blocks per stage of the CIFAR ResNets (depth 6n + 2). */
const BLOCKS: Partial<Record<ModelName, number>> = { resnet20: 3, resnet32: 5, resnet56: 9 };

/** The loss of a uniform guess over 10 classes: where an untrained classifier sits. */
const CHANCE_LOSS = Math.log(10);

interface ResidualArm extends ArmResult {
  spec: ArmSpec;
  history: GradientNormHistory;
  /** Mean gradient norm of each group over the run, stem first, logits excluded. */
  profile: { group: string; mean: number }[];
}

function mean(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite);
  return finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : Number.NaN;
}

/** Whether a run's loss left the chance level (by at least 2% of it). */
function trained(loss: number): boolean {
  return loss < CHANCE_LOSS * 0.98;
}

export async function residualsExperiment(ctx: ExperimentContext): Promise<ExperimentResult> {
  const { dir, pictures, save } = await experimentFolder(ctx.options.out, "residuals");
  const arms: ResidualArm[] = [];
  for (const spec of ARMS) {
    // ResNet-20 at its own widths, 2,000 images × 3 epochs: chosen by measurement, the shortest
    // run in which every arm that trains has clearly left the chance level and the ones that do
    // not are flat (about 6 minutes for the five arms on 2 cores).
    const config = armConfig(
      ctx.options,
      { model: "resnet20", widths: [16, 32, 64], trainSubset: 2000 * ctx.options.scale, epochs: 3 },
      { shortcut: spec.shortcut === "none" ? "none" : "auto" },
    );
    const blocks = BLOCKS[config.model];
    if (blocks === undefined) {
      throw new TrainerError(
        "config_invalid",
        `model: expected resnet20, resnet32 or resnet56 for the residuals experiment (its arms without BatchNorm are built like them), got ${config.model}`,
      );
    }
    const history = new GradientNormHistory();
    const every = ctx.options.gradEvery;
    const result = await runArm(
      ctx,
      "residuals",
      spec.name,
      config,
      {
        onGradients: ({ step, grads, model }) => {
          if (step % every === 0) history.record(step, gradientNormsByBlock(grads, model));
        },
        ...(spec.batchNorm
          ? {}
          : {
              buildModel: (numClasses: number) =>
                noNormResNet({
                  widths: config.widths,
                  blocks: config.widths.map(() => blocks),
                  shortcut: spec.shortcut,
                  numClasses,
                  seed: config.seed,
                }),
            }),
      },
      `${config.model} [${config.widths.join(", ")}], ${spec.what}`,
    );
    const profile = history.groups
      .filter((g) => g !== "logits")
      .map((group) => ({ group, mean: mean(history.norms(group)) }));
    arms.push({ ...result, spec, history, profile });
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

  const c = arms[0]!.config;
  const net = `${c.model} [${c.widths.join(", ")}]`;
  const steps = arms[0]!.result.globalStep;
  const lowest = Math.min(
    ...arms.flatMap((a) => a.loss.values).filter(Number.isFinite),
    CHANCE_LOSS,
  );
  await save(
    "loss.png",
    lineChart({
      series: [
        ...arms.map((a) => ({
          name: a.spec.name,
          x: a.loss.steps,
          y: a.loss.values,
          color: a.spec.color,
          dashed: a.spec.dashed,
        })),
        {
          name: "chance (ln 10)",
          x: [0, steps],
          y: [CHANCE_LOSS, CHANCE_LOSS],
          color: "#999999",
          dashed: true,
        },
      ],
      title: `Training loss, ${net}: solid without BatchNorm, dashed with`,
      xLabel: "step",
      yLabel: "training loss (smoothed)",
      smoothing: 0.9,
      // The first steps of an unnormalised network can start far above chance; the story is
      // below it, so the axis stops a little above ln 10.
      yRange: [Math.max(0, Math.floor(lowest * 10) / 10 - 0.1), CHANCE_LOSS + 0.6],
      width: 760,
    }),
  );
  const groups = arms[0]!.profile.map((p) => p.group);
  await save(
    "grad-profile.png",
    lineChart({
      series: arms.map((a) => ({
        name: a.spec.name,
        x: a.profile.map((_, i) => i),
        y: a.profile.map((p) => p.mean),
        color: a.spec.color,
        dashed: a.spec.dashed,
      })),
      title: "Gradient norm per block, mean over the run",
      xLabel: `depth: 0 = ${groups[0]} (at the input) … ${groups.length - 1} = ${groups.at(-1)} (before the logits)`,
      yLabel: "gradient L2 norm (log)",
      logY: true,
      width: 760,
    }),
  );
  await save(
    "test-accuracy.png",
    barChart({
      labels: arms.map((a) => a.spec.name),
      values: arms.map((a) => (a.result.history.at(-1)?.testAccuracy ?? Number.NaN) * 100),
      colors: arms.map((a) => a.spec.color),
      title: `Test accuracy after ${steps} steps (chance: 10%)`,
      yLabel: "test accuracy (%)",
      valueText: (v) => `${v.toFixed(1)}%`,
      width: 760,
    }),
  );
  for (const a of arms) {
    await save(
      `grad-norms-${a.spec.name}.png`,
      gradientNormChart(a.history, {
        title: `Gradient norm of every block over the steps, ${a.spec.name}`,
      }),
    );
  }

  const numbers: Record<string, number | null> = {};
  const first = (a: ResidualArm) => a.profile[1]?.mean ?? Number.NaN;
  const last = (a: ResidualArm) => a.profile.at(-1)?.mean ?? Number.NaN;
  for (const a of arms) {
    numbers[`${a.spec.name}.finalTrainLoss`] = tailMean(a.loss.values);
    numbers[`${a.spec.name}.lastTestAccuracy`] = a.result.history.at(-1)?.testAccuracy ?? null;
    numbers[`${a.spec.name}.firstBlockGradNorm`] = first(a);
    numbers[`${a.spec.name}.lastBlockGradNorm`] = last(a);
    numbers[`${a.spec.name}.firstToLastRatio`] = first(a) / last(a);
  }
  const arm = (name: string) => arms.find((a) => a.spec.name === name)!;
  const res = arm("residual");
  const plain = arm("plain");
  const broken = arm("broken-shortcut");
  const plainBn = arm("plain-batchnorm");
  const resBn = arm("residual-batchnorm");
  const loss = (a: ResidualArm) => tailMean(a.loss.values);
  const acc = (a: ResidualArm) => pct(a.result.history.at(-1)?.testAccuracy);
  const ratio = (a: ResidualArm) => num(first(a) / last(a), 2);
  const outcome = (a: ResidualArm) =>
    trained(loss(a))
      ? `trained: loss ${num(loss(a))}, test accuracy ${acc(a)}`
      : `did not train: its loss stayed at ${num(loss(a))}, the chance level ln 10 = ${num(CHANCE_LOSS)}, and test accuracy ${acc(a)}`;
  const firstBlock = groups[1] ?? "the first block";
  const lastBlock = groups.at(-1) ?? "the last block";

  const markdown = `# Residual connections

${net}, ${steps} steps of batch ${c.batchSize} on ${res.result.data.train.length} training images, tested on ${res.result.data.test.length}; five networks, same seed, same batches (loss: mean of the last 20% of steps; gradient norms: L2 per block, before clipping, every ${ctx.options.gradEvery} step(s), averaged over the run).

## Without BatchNorm: what the shortcuts are for

- \`residual\` (identity shortcuts) ${outcome(res)}.
- \`plain\` (the same network, shortcuts removed) ${outcome(plain)}. Its ${firstBlock} received ${num(first(plain), 4)} of gradient against ${num(last(plain), 4)} for ${lastBlock} (${ratio(plain)}×); the residual network's ${num(first(res), 4)} against ${num(last(res), 4)} (${ratio(res)}×). Without the identity path, every block's signal — forward and backward — has to pass through every convolution and ReLU above it, and with nothing re-scaling it, it fades.
- \`broken-shortcut\` ${outcome(broken)}. Each of its blocks adds a 1×1 projection of its *own output* (\`add(y, P(y))\` where \`add(y, P(x))\` was meant): the graph has every Add layer and the projection's weights, the code runs, and no path goes around a convolution. A broken shortcut does not crash; it costs ${trained(loss(broken)) && trained(loss(res)) ? `accuracy (${acc(broken)} against ${acc(res)}) and time: look at how long its loss stays flat` : "the training itself"}.

## With BatchNorm: why ResNet-20 trains without shortcuts too

- \`plain-batchnorm\` ${outcome(plainBn)}; \`residual-batchnorm\` ${outcome(resBn)}.
- BatchNorm re-normalises every layer's input to zero mean and unit variance over the batch, so the forward signal cannot fade with depth: at 20 layers that alone makes the plain network trainable, which is why the textbook effect does not show with the library's networks. Its gradient profile even runs the other way: the ${firstBlock} of \`plain-batchnorm\` received ${ratio(plainBn)}× the gradient norm of the ${lastBlock} (\`residual-batchnorm\`: ${ratio(resBn)}×) — deep BatchNorm networks without shortcuts amplify gradients towards the input (Yang et al., 2019, "A Mean Field Theory of Batch Normalization"), they do not starve them.
- What shortcuts still buy with BatchNorm is easier optimisation, not rescue: ${loss(resBn) < loss(plainBn) ? `here a lower loss (${num(loss(resBn))} against ${num(loss(plainBn))}) and test accuracy ${acc(resBn)} against ${acc(plainBn)}` : `here the loss was no lower (${num(loss(resBn))} against ${num(loss(plainBn))})`}. He et al.'s plain networks had BatchNorm too; their finding was that a deeper plain network trains *worse* than a shallower one (degradation), and grows worse with depth, which shortcuts remove.

${table(
  [
    "arm",
    "network",
    "final train loss",
    "last test acc",
    `grad ${firstBlock}`,
    `grad ${lastBlock}`,
    "first/last",
  ],
  arms.map((a) => [
    a.spec.name,
    a.spec.what,
    num(loss(a)),
    acc(a),
    num(first(a), 4),
    num(last(a), 4),
    ratio(a),
  ]),
)}

Pictures: \`loss.png\` (per-step loss, smoothed; the grey line is chance), \`grad-profile.png\` (gradient norm against depth, log scale; 0 is the stem, next to the input), \`test-accuracy.png\`, \`grad-norms-<arm>.png\` (every block over the steps).

${tensorboardHint(dir)}
`;
  const summary = await writeSummary(dir, markdown, numbers);
  return { experiment: "residuals", dir, summary, pictures, numbers };
}
