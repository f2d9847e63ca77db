// The run's report: report.md and report.html side by side with the pictures they show (final
// metrics, curves, lr schedule, confusion matrix, per-class table, most-confused pairs, failures).
import { join } from "node:path";
import type { Cifar10Split } from "@cnnkit/cifar10";
import { type MetricsResult, toMarkdown } from "@cnnkit/metrics";
import {
  confusionMatrixPicture,
  failureGallery,
  perClassAccuracyPicture,
  reliabilityPicture,
} from "@cnnkit/metrics/pictures";
import { OneCycleLR, sampleSchedule } from "@cnnkit/schedulers";
import { type LineSeries, lineChart, type Picture, savePicture } from "@cnnkit/viz";
import type { EpochRecord } from "./checkpoint.js";
import type { TrainConfig } from "./config.js";
import { precisionMarkdown } from "./precision.js";
import { writeFileAtomic } from "./run-dir.js";
import { type Curve, readScalarsByTag } from "./scalars.js";

/** The per-step (and EMA) scalars of a run's TensorBoard events that the report draws. */
export const REPORT_TAGS = [
  "train/loss",
  "train/acc",
  "lr",
  "train/grad_norm",
  "test/acc_raw_weights",
] as const;

/** The report's curves from the run's event files (empty curves when there are none). */
export async function readReportCurves(tensorboardDir: string): Promise<Record<string, Curve>> {
  return readScalarsByTag(tensorboardDir, REPORT_TAGS);
}

export interface ReportInput {
  config: TrainConfig;
  /** Test metrics of the evaluated weights (the best checkpoint). */
  result: MetricsResult;
  /** The split `result` was computed on (its indices point into it), for the failure gallery. */
  test: Cifar10Split;
  /** Per-epoch history; empty for an evaluation without training. */
  history: readonly EpochRecord[];
  /** Steps per epoch of the run, to draw its lr schedule. Omit for no schedule picture. */
  stepsPerEpoch?: number;
  /**
   * Per-step scalars of the run (`REPORT_TAGS`, from its TensorBoard events): the curves are
   * drawn per step when present, per epoch otherwise.
   */
  curves?: Record<string, Curve>;
  /** What was evaluated, e.g. `checkpoints/best (epoch 7)`. */
  source: string;
  /** The backend line. */
  backend?: string;
}

/** The pictures of a report, by file name. */
export function reportPictures(input: ReportInput): Record<string, Picture> {
  const { result, history, config } = input;
  const pictures: Record<string, Picture> = {
    "confusion-matrix.png": confusionMatrixPicture(result),
    "per-class-accuracy.png": perClassAccuracyPicture(result),
    "reliability.png": reliabilityPicture(result),
  };
  if (result.accuracy < 1) {
    pictures["failures.png"] = failureGallery(result, input.test, {
      title: "Most confident mistakes",
    });
  }
  const curve = (tag: string) => {
    const c = input.curves?.[tag];
    return c && c.steps.length > 0 ? c : null;
  };
  if (history.length > 0) {
    const trainLoss = curve("train/loss");
    const trainAcc = curve("train/acc");
    // Test figures sit at the step each epoch ended on, on the per-step curves' axis.
    const spe = input.stepsPerEpoch;
    const perStep = spe !== undefined && trainLoss !== null;
    const x = history.map((h) => (perStep ? h.epoch * spe : h.epoch));
    const perEpoch = (name: string, y: number[], color: string): LineSeries => ({
      name,
      x,
      y,
      color,
    });
    const train = (name: string, c: Curve | null, y: number[]): LineSeries =>
      perStep && c
        ? { name: `${name} (each step)`, x: c.steps, y: c.values, color: BLUE }
        : perEpoch(`${name} (epoch mean)`, y, BLUE);
    pictures["loss.png"] = lineChart({
      title: "Loss: training per step (smoothed), test after each epoch",
      xLabel: perStep ? "step" : "epoch",
      yLabel: "cross-entropy",
      smoothing: 0.9,
      series: [
        train(
          "train",
          trainLoss,
          history.map((h) => h.trainLoss),
        ),
        perEpoch(
          "test (epoch end)",
          history.map((h) => h.testLoss),
          ORANGE,
        ),
      ],
    });
    pictures["accuracy.png"] = lineChart({
      title: "Accuracy: training batches per step (smoothed), test after each epoch",
      xLabel: perStep ? "step" : "epoch",
      yLabel: "top-1 accuracy",
      smoothing: 0.9,
      series: [
        train(
          "train",
          perStep ? trainAcc : null,
          history.map((h) => h.trainAccuracy),
        ),
        perEpoch(
          "test (epoch end)",
          history.map((h) => h.testAccuracy),
          ORANGE,
        ),
      ],
    });
    const raw = curve("test/acc_raw_weights");
    if (raw && config.ema !== null) {
      pictures["ema.png"] = lineChart({
        title: `Test accuracy: EMA of the weights (decay ${config.ema}) against the raw weights`,
        xLabel: "epoch",
        yLabel: "top-1 accuracy",
        series: [
          {
            name: "EMA weights (evaluated)",
            x: history.map((h) => h.epoch),
            y: history.map((h) => h.testAccuracy),
            color: BLUE,
          },
          {
            name: "raw weights",
            // Logged at the global step each epoch ended on.
            x: raw.steps.map((step) => (spe ? step / spe : step)),
            y: raw.values,
            color: ORANGE,
            dashed: true,
          },
        ],
      });
    }
  }
  const norms = curve("train/grad_norm");
  if (norms && config.gradClip !== null) {
    const clipped = norms.values.filter((v) => v > config.gradClip!).length;
    const n = norms.values.length;
    pictures["grad-norm.png"] = lineChart({
      title: `Gradient norm before clipping: clipped in ${clipped} of ${n} steps (${((clipped / n) * 100).toFixed(0)}%)`,
      xLabel: "step",
      yLabel: "global L2 norm",
      logY: true,
      smoothing: 0.9,
      series: [
        { name: "gradient norm", x: norms.steps, y: norms.values, color: BLUE },
        {
          name: `clip threshold ${config.gradClip}`,
          x: [norms.steps[0]!, norms.steps.at(-1)!],
          y: [config.gradClip, config.gradClip],
          color: RED,
          dashed: true,
        },
      ],
    });
  }
  const lr = curve("lr");
  if (lr) {
    pictures["lr-schedule.png"] = lineChart({
      title: `Learning rate used at each step (${config.schedule === "one-cycle" ? "OneCycleLR" : "triangle"}, ${lr.steps.length} steps)`,
      xLabel: "step",
      yLabel: "learning rate",
      series: [{ name: "lr", x: lr.steps, y: lr.values, color: BLUE }],
    });
  } else if (input.stepsPerEpoch && config.schedule === "one-cycle") {
    const samples = sampleSchedule(
      new OneCycleLR({
        maxLr: config.maxLr,
        epochs: config.epochs,
        stepsPerEpoch: input.stepsPerEpoch,
        pctStart: config.pctStart,
      }),
    );
    pictures["lr-schedule.png"] = lineChart({
      title: `OneCycleLR: ${samples.length} steps (${config.epochs} epochs × ${input.stepsPerEpoch})`,
      xLabel: "step",
      yLabel: "learning rate",
      series: [{ name: "lr", x: samples.map((s) => s.step), y: samples.map((s) => s.lr) }],
    });
  }
  return pictures;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const BLUE = "#1f77b4";
const ORANGE = "#ff7f0e";
const RED = "#d62728";

/** report.md's text (pictures referenced by relative file name). */
export function reportMarkdown(input: ReportInput, pictureNames: readonly string[]): string {
  const { result, history, config } = input;
  const has = (name: string) => pictureNames.includes(name);
  const img = (name: string, alt: string) => (has(name) ? [`![${alt}](${name})`] : []);
  const caption = (name: string, text: string) => (has(name) ? ["", `*${text}*`, ""] : []);
  const best = history.length
    ? history.reduce((a, b) => (b.testAccuracy > a.testAccuracy ? b : a))
    : null;
  const lines: string[] = [
    `# cnnkit-train report: ${config.preset} preset, ${config.model} [${config.widths.join(", ")}]`,
    "",
    `Evaluated: ${input.source} on ${result.examples} test images${input.backend ? `; backend: ${input.backend}` : ""}.`,
    "",
    ...precisionMarkdown(config),
    "| metric | value |",
    "|---|---:|",
    `| test accuracy | ${pct(result.accuracy)} |`,
    ...result.topK
      .filter((t) => t.k !== 1)
      .map((t) => `| top-${t.k} accuracy | ${pct(t.accuracy)} |`),
    `| test loss | ${result.loss.toFixed(4)} |`,
    `| expected calibration error | ${pct(result.calibration.ece)} |`,
    ...(best ? [`| best epoch | ${best.epoch} of ${config.epochs} |`] : []),
    ...(history.length
      ? [`| training time | ${(history.reduce((s, h) => s + h.seconds, 0) / 60).toFixed(1)} min |`]
      : []),
    "",
  ];
  if (history.length > 0) {
    lines.push(
      "## Training",
      "",
      "| epoch | train loss | train acc | test loss | test acc | lr | seconds | img/s |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...history.map(
        (h) =>
          `| ${h.epoch} | ${h.trainLoss.toFixed(4)} | ${pct(h.trainAccuracy)} | ${h.testLoss.toFixed(4)} | ${pct(h.testAccuracy)} | ${h.lr.toExponential(2)} | ${h.seconds.toFixed(1)} | ${h.imagesPerSecond.toFixed(1)} |`,
      ),
      "",
      ...img("loss.png", "loss curves"),
      ...caption(
        "loss.png",
        "The training loss should fall steadily; a test loss that turns up while the training loss keeps falling is overfitting.",
      ),
      ...img("accuracy.png", "accuracy curves"),
      ...img("ema.png", "EMA against raw weights"),
      ...caption(
        "ema.png",
        "The average of the weights is usually ahead while the learning rate is high and meets the raw weights as the schedule anneals it.",
      ),
      ...img("lr-schedule.png", "learning-rate schedule"),
      ...img("grad-norm.png", "gradient norm and clipping"),
      ...caption(
        "grad-norm.png",
        "Every step above the dashed line was clipped: its update was scaled down to the threshold. Clipping that fires on most steps acts as a lower learning rate; clipping that never fires does nothing.",
      ),
      "",
    );
  }
  lines.push(
    "## Confusion matrix",
    "",
    ...img("confusion-matrix.png", "confusion matrix"),
    ...img("per-class-accuracy.png", "per-class accuracy"),
    "",
    toMarkdown(result, { title: "Test set", headingLevel: 2 }),
    "## Failure gallery",
    "",
    ...(has("failures.png") ? img("failures.png", "most confident mistakes") : ["No mistakes."]),
    ...img("reliability.png", "reliability diagram"),
    "",
  );
  return lines.join("\n");
}

function escapeHtml(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function inline(s: string): string {
  return escapeHtml(s)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/\*([^*]+)\*/g, "<em>$1</em>");
}

/**
 * The report's Markdown as HTML. It handles what {@link reportMarkdown} and `toMarkdown` write
 * (headings, pipe tables, images, paragraphs), so the report needs no Markdown library.
 */
export function markdownToHtml(markdown: string, title: string): string {
  const out: string[] = [];
  const blocks = markdown.split(/\n{2,}/);
  for (const block of blocks) {
    const lines = block.split("\n").filter((l) => l.trim() !== "");
    if (lines.length === 0) continue;
    const heading = /^(#{1,6}) (.*)$/.exec(lines[0]!);
    if (heading && lines.length === 1) {
      const n = heading[1]!.length;
      out.push(`<h${n}>${inline(heading[2]!)}</h${n}>`);
    } else if (lines.every((l) => l.trim().startsWith("|"))) {
      const cells = (l: string) =>
        l
          .trim()
          .replace(/^\||\|$/g, "")
          .split("|")
          .map((c) => c.trim());
      const align = cells(lines[1] ?? "").map((c) => (c.endsWith(":") ? "right" : "left"));
      const row = (l: string, tag: "th" | "td") =>
        `<tr>${cells(l)
          .map((c, i) => `<${tag} style="text-align:${align[i] ?? "left"}">${inline(c)}</${tag}>`)
          .join("")}</tr>`;
      out.push(
        `<table>\n<thead>${row(lines[0]!, "th")}</thead>\n<tbody>\n${lines
          .slice(2)
          .map((l) => row(l, "td"))
          .join("\n")}\n</tbody>\n</table>`,
      );
    } else {
      for (const l of lines) {
        const image = /^!\[([^\]]*)\]\(([^)]+)\)$/.exec(l.trim());
        if (image)
          out.push(`<p><img src="${escapeHtml(image[2]!)}" alt="${escapeHtml(image[1]!)}"></p>`);
        else if (/^#{1,6} /.test(l)) {
          const n = /^#+/.exec(l)![0].length;
          out.push(`<h${n}>${inline(l.slice(n + 1))}</h${n}>`);
        } else out.push(`<p>${inline(l)}</p>`);
      }
    }
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
img { max-width: 100%; }
</style>
</head>
<body>
${out.join("\n")}
</body>
</html>
`;
}

/** Writes `report.md`, `report.html` and their pictures into `dir`. Returns the files written. */
export async function writeReport(dir: string, input: ReportInput): Promise<string[]> {
  const pictures = reportPictures(input);
  for (const [name, picture] of Object.entries(pictures)) {
    await savePicture(picture, join(dir, name));
  }
  const names = Object.keys(pictures);
  const markdown = reportMarkdown(input, names);
  await writeFileAtomic(join(dir, "report.md"), markdown);
  await writeFileAtomic(
    join(dir, "report.html"),
    markdownToHtml(markdown, `cnnkit-train report (${input.config.preset})`),
  );
  return ["report.md", "report.html", ...names];
}
