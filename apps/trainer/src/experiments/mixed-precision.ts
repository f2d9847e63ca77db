// Mixed precision, emulated: the same network trained in float32, in emulated float16 without
// loss scaling and in emulated float16 with dynamic loss scaling (@cnnkit/train's `float16`).
// What it shows: the gradient values that flush to zero in half precision and where, the loss
// scale's growth and backoffs, and what each does to the loss. What it cannot show: a speed-up
// (tfjs has no float16 arithmetic; the emulation is slower), and the summary says so.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { gradientGroup } from "@cnnkit/explain";
import type { HalfUnderflow } from "@cnnkit/train";
import { barChart, lineChart, savePicture } from "@cnnkit/viz";
import type { ConfigPatch } from "../config.js";
import type { EmulatedPrecisionSummary } from "../precision.js";
import { runPaths } from "../run-dir.js";
import type { MetricsFile } from "../train.js";
import { type ArmResult, type Curve, type ExperimentContext, readScalars, runArm } from "./arm.js";
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

/**
 * The loss scaler grows every this many clean steps instead of PyTorch's 2000, so that growth
 * and the backoffs it provokes show within a run of a few hundred steps.
 */
export const GROWTH_INTERVAL = 16;

/** Chosen by measurement (apps/trainer/README.md, "Mixed precision"). */
const EXPERIMENT: ConfigPatch = { batchSize: 64, epochs: 6 };

const ARMS: { name: string; label: string; patch: ConfigPatch }[] = [
  { name: "fp32", label: "float32", patch: { precision: "fp32", lossScaling: true } },
  {
    name: "fp16-no-scaling",
    label: "fp16 (emulated), no loss scaling",
    patch: { precision: "fp16-emulated", lossScaling: false },
  },
  {
    name: "fp16-dynamic-scaling",
    label: "fp16 (emulated), dynamic loss scaling",
    patch: { precision: "fp16-emulated", lossScaling: true },
  },
];

const COLORS = { fp32: "#1f77b4", "fp16-no-scaling": "#d62728", "fp16-dynamic-scaling": "#2ca02c" };

interface PrecisionArm extends ArmResult {
  label: string;
  color: string;
  summary: EmulatedPrecisionSummary | null;
  /** Training seconds (every epoch's steps, no evaluation). */
  seconds: number;
  lossScale: Curve;
  underflow: Curve;
}

/** The layers' counts summed per block (`stem`, `stage1_block1`, …, `logits`), stem first. */
function byBlock(layers: Record<string, HalfUnderflow>): [string, HalfUnderflow][] {
  const blocks = new Map<string, HalfUnderflow>();
  for (const [layer, c] of Object.entries(layers)) {
    const group = gradientGroup(layer);
    const t = blocks.get(group) ?? { nonzero: 0, flushed: 0 };
    blocks.set(group, { nonzero: t.nonzero + c.nonzero, flushed: t.flushed + c.flushed });
  }
  return [...blocks];
}

const fraction = (c: HalfUnderflow) => (c.nonzero === 0 ? 0 : c.flushed / c.nonzero);

/** The layers' counts summed over convolution outputs and over every other layer's output. */
function convAndOthers(layers: Record<string, HalfUnderflow>): { conv: number; others: number } {
  const conv = { nonzero: 0, flushed: 0 };
  const others = { nonzero: 0, flushed: 0 };
  for (const [layer, c] of Object.entries(layers)) {
    const t = /conv\d*$/.test(layer) ? conv : others;
    t.nonzero += c.nonzero;
    t.flushed += c.flushed;
  }
  return { conv: fraction(conv), others: fraction(others) };
}

/** Percent with enough digits for small fractions (0.012%). */
function percent(x: number): string {
  if (!Number.isFinite(x)) return "n/a";
  if (x === 0) return "0%";
  return x >= 0.001 ? pct(x) : `${(x * 100).toPrecision(2)}%`;
}

export async function mixedPrecisionExperiment(ctx: ExperimentContext): Promise<ExperimentResult> {
  const dir = join(ctx.options.out, "mixed-precision");
  await mkdir(dir, { recursive: true });
  const arms: PrecisionArm[] = [];
  for (const arm of ARMS) {
    const config = armConfig(ctx.options, EXPERIMENT, arm.patch);
    const result = await runArm(ctx, "mixed-precision", arm.name, config, {
      lossScaler: { growthInterval: GROWTH_INTERVAL },
    });
    const paths = runPaths(result.runDir);
    const metrics = JSON.parse(await readFile(paths.metrics, "utf8")) as MetricsFile;
    arms.push({
      ...result,
      label: arm.label,
      color: COLORS[arm.name as keyof typeof COLORS],
      summary: metrics.precision === "fp32" ? null : metrics.precision,
      seconds: result.result.history.reduce((s, h) => s + h.seconds, 0),
      lossScale: await readScalars(paths.tensorboard, "fp16/loss_scale"),
      underflow: await readScalars(paths.tensorboard, "fp16/underflow_activation_grads"),
    });
  }
  const [fp32, unscaled, scaled] = arms as [PrecisionArm, PrecisionArm, PrecisionArm];
  const half = [unscaled, scaled];

  const pictures: string[] = [];
  const save = async (name: string, picture: Parameters<typeof savePicture>[0]) => {
    const path = join(dir, name);
    await savePicture(picture, path);
    pictures.push(path);
  };
  await save(
    "underflow.png",
    lineChart({
      title: "Activation-gradient values that became zero in float16, each step",
      xLabel: "step",
      yLabel: "% of the nonzero values",
      smoothing: 0.6,
      width: 800,
      series: half.map((a) => ({
        name: a.label,
        x: a.underflow.steps,
        y: a.underflow.values.map((v) => v * 100),
        color: a.color,
      })),
    }),
  );
  const blocks = byBlock(unscaled.summary!.activationGradientsByLayer);
  const scaledBlocks = new Map(byBlock(scaled.summary!.activationGradientsByLayer));
  const worstScaled = Math.max(0, ...[...scaledBlocks.values()].map(fraction));
  await save(
    "underflow-by-block.png",
    barChart({
      title: "Flushed to zero in float16 without loss scaling, by block",
      labels: blocks.map(([b]) => b),
      values: blocks.map(([, c]) => fraction(c) * 100),
      yLabel: "% of nonzero activation grads",
      valueText: (v) => (v === 0 ? "0" : v >= 0.1 ? v.toFixed(1) : v.toPrecision(1)),
      colors: COLORS["fp16-no-scaling"],
    }),
  );
  const backoffs = scaled.summary!.skippedSteps;
  await save(
    "loss-scale.png",
    lineChart({
      title: `Loss scale: ×2 after ${GROWTH_INTERVAL} clean steps, ×0.5 on overflow`,
      xLabel: "step",
      yLabel: "loss scale",
      logY: true,
      width: 800,
      series: [
        {
          name: `loss scale (${backoffs} overflows: steps skipped)`,
          x: scaled.lossScale.steps,
          y: scaled.lossScale.values,
          color: scaled.color,
        },
      ],
    }),
  );
  await save(
    "loss.png",
    lineChart({
      title: "Training loss: float32 against emulated float16, with and without loss scaling",
      xLabel: "step",
      yLabel: "cross-entropy",
      smoothing: 0.8,
      width: 800,
      series: arms.map((a) => ({
        name: a.label,
        x: a.loss.steps,
        y: a.loss.values,
        color: a.color,
        dashed: a === scaled,
      })),
    }),
  );

  const numbers: Record<string, number | null> = {};
  for (const a of arms) {
    numbers[`${a.name}.finalTrainLoss`] = tailMean(a.loss.values);
    numbers[`${a.name}.lastTestAccuracy`] = a.result.history.at(-1)?.testAccuracy ?? null;
    numbers[`${a.name}.trainingSeconds`] = a.seconds;
    if (a.summary) {
      numbers[`${a.name}.activationGradientUnderflow`] = a.summary.underflow.activationGradients;
      numbers[`${a.name}.weightGradientUnderflow`] = a.summary.underflow.weightGradients;
      numbers[`${a.name}.skippedSteps`] = a.summary.skippedSteps;
      numbers[`${a.name}.finalLossScale`] = a.summary.finalLossScale;
    }
  }
  const [worstBlock, worst] = blocks.reduce((a, b) => (fraction(b[1]) > fraction(a[1]) ? b : a));
  const lossOf = (a: PrecisionArm) => tailMean(a.loss.values);
  // Scaling "recovered" the loss only if the unscaled arm ended clearly above both others.
  const worse = (a: PrecisionArm, b: PrecisionArm) => lossOf(a) > lossOf(b) * 1.03;
  const close = !(worse(unscaled, fp32) && worse(unscaled, scaled));
  const kinds = convAndOthers(unscaled.summary!.activationGradientsByLayer);
  const kindLine =
    kinds.conv > kinds.others
      ? `inside the blocks, the gradient arriving at a convolution's output lost ${percent(kinds.conv)} against ${percent(kinds.others)} at every other layer's output: it comes out of BatchNorm's backward, which subtracts the batch means and leaves small differences`
      : `the gradient arriving at a convolution's output lost ${percent(kinds.conv)}, at every other layer's output ${percent(kinds.others)}`;
  const [fast, slow] = [unscaled.seconds, scaled.seconds].sort((a, b) => a - b) as [number, number];
  const slower =
    num(fast / fp32.seconds, 1) === num(slow / fp32.seconds, 1)
      ? `${num(fast / fp32.seconds, 1)}×`
      : `${num(fast / fp32.seconds, 1)}–${num(slow / fp32.seconds, 1)}×`;
  const steps = fp32.result.globalStep;
  const scales = scaled.lossScale.values;
  const lossLine = close
    ? `The three loss curves (\`loss.png\`) lie together: final training loss ${num(lossOf(fp32))} in float32, ${num(lossOf(unscaled))} in float16 without loss scaling, ${num(lossOf(scaled))} with it (rounding to half moves each run a little, scaled or not). **That is the honest result at this size, not the textbook's stalled run**: the values that flushed are the smallest ones and a few percent of the whole, BatchNorm rescales every layer's gradient, and AdamW divides each weight's step by its gradient's running RMS, so losing them changes the update little. Underflow takes over when gradients are small across the board — larger batches (the mean loss divides every gradient by the batch size), deeper nets, or much later in training as the loss falls — and nothing warns you when it does: that is why GPU mixed precision always comes with loss scaling, and why the scaled arm lost ${percent(scaled.summary!.underflow.activationGradients)}.`
    : `Without loss scaling the training loss ended at ${num(lossOf(unscaled))} against ${num(lossOf(fp32))} in float32 and ${num(lossOf(scaled))} with dynamic loss scaling (\`loss.png\`): the gradients that flushed to zero were missing from the updates, and scaling brought them back.`;
  const markdown = `# Mixed precision (float16 emulated in float32)

**Emulated, not accelerated.** tfjs has no float16 arithmetic, so this experiment rounds values to float16 where a GPU running mixed precision would store them (the input, a half copy of each Conv/Dense weight for the forward pass, every layer's output, the gradient flowing back into every layer's output, every weight gradient) and computes everything else in float32, with float32 master weights (\`@cnnkit/train\`'s \`float16\` option). It shows what half precision does to the numbers; it cannot show the speed-up. Here the float16 arms were **${slower} slower** than float32 (${num(fp32.seconds, 0)} s against ${num(unscaled.seconds, 0)} s and ${num(scaled.seconds, 0)} s of training), because every rounding is an extra pass over the tensor; on a GPU with tensor cores, float16 is the faster one.

${fp32.config.model} [${fp32.config.widths.join(", ")}], ${steps} steps of batch ${fp32.config.batchSize} on ${fp32.result.data.train.length} training images, three times from the same initial weights and batches: float32; float16 without loss scaling; float16 with dynamic loss scaling (PyTorch GradScaler's rule: start at 2¹⁶ = 65,536, ×0.5 and skip the step when a half gradient overflows, ×2 after ${GROWTH_INTERVAL} clean steps in a row — PyTorch's default is 2000, shortened here so that growth and backoff show within ${steps} steps).

**What to look at.**

- \`underflow.png\`: the share of nonzero activation-gradient values that became exactly zero when stored in half. Without loss scaling ${percent(unscaled.summary!.underflow.activationGradients)} of them over the run; with dynamic loss scaling ${percent(scaled.summary!.underflow.activationGradients)}. Half's smallest value is 2⁻²⁴ ≈ 6e-8, and anything below 2⁻²⁵ rounds to 0; multiplying the loss by the scale moves every gradient up by that factor, past the gap, and they are divided by it again in float32 before the update.
- \`underflow-by-block.png\`: where it happens, from the stem (input side) to the logits. With dynamic loss scaling no block lost more than ${percent(worstScaled)}. The worst block without scaling is ${worstBlock} (${percent(fraction(worst))}); ${kindLine}. Weight gradients lost ${percent(unscaled.summary!.underflow.weightGradients)} without scaling: each sums over the batch and every position, and is rarely that small.
- \`loss-scale.png\`: the scale climbs ×2 every ${GROWTH_INTERVAL} clean steps until scale × the largest gradient passes float16's maximum, 65,504; that step's gradients hold Infinity, so the step is skipped and the scale halved: ${backoffs} skipped step(s) of ${steps}, the scale between ${num(Math.min(...scales), 0)} and ${num(Math.max(...scales), 0)}, ${num(scaled.summary!.finalLossScale, 0)} at the end. The sawtooth is the scaler finding the largest scale that does not overflow.
- ${lossLine}

${table(
  [
    "arm",
    "final train loss",
    "last test acc",
    "activation grads flushed",
    "weight grads flushed",
    "skipped steps",
    "final loss scale",
    "training s",
  ],
  arms.map((a) => [
    a.label,
    num(lossOf(a)),
    pct(a.result.history.at(-1)?.testAccuracy),
    a.summary ? percent(a.summary.underflow.activationGradients) : "—",
    a.summary ? percent(a.summary.underflow.weightGradients) : "—",
    a.summary ? String(a.summary.skippedSteps) : "—",
    a.summary ? num(a.summary.finalLossScale, 0) : "—",
    num(a.seconds, 1),
  ]),
)}

Final train loss: mean of the last 20% of steps. Each arm's \`metrics.json\` has its \`precision\` summary (per-layer counts included); TensorBoard has \`fp16/loss_scale\`, \`fp16/skipped\` and \`fp16/underflow_*\` per step. Train with it yourself: \`cnnkit-train --precision fp16-emulated\` (add \`--no-loss-scaling\` to see the underflow).

${tensorboardHint(dir)}
`;
  const summary = await writeSummary(dir, markdown, numbers);
  return { experiment: "mixed-precision", dir, summary, pictures, numbers };
}
