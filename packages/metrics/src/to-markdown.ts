// A MetricsResult as Markdown tables a person reads in a report or a pull request.
import { checkResult } from "./check-result.js";
import { MetricsError } from "./errors.js";
import type { MetricsResult } from "./metrics-result.js";

/** Options of {@link toMarkdown}. */
export interface ToMarkdownOptions {
  /** Heading of the section. Defaults to "Evaluation". */
  title?: string;
  /** Level of the title heading (1–5); sub-sections go one deeper. Defaults to 2. */
  headingLevel?: number;
  /** Most confident mistakes listed per class (0 leaves the section out). Defaults to 3. */
  mistakesPerClass?: number;
}

const percent = (v: number) => `${(v * 100).toFixed(2)}%`;
const fixed = (v: number) => v.toFixed(4);

/** Class names are user text: keep them from breaking the table. */
function cell(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\s+/g, " ");
}

function table(header: string[], align: ("l" | "r")[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const rule = `|${align.map((a) => (a === "r" ? "---:" : ":---")).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/**
 * Renders the headline numbers, per-class scores, most-confused pairs, calibration bins and
 * the most confident mistakes (dataset indices) as GitHub-flavoured Markdown.
 */
export function toMarkdown(result: MetricsResult, options: ToMarkdownOptions = {}): string {
  checkResult(result, "toMarkdown");
  const level = options.headingLevel ?? 2;
  if (!Number.isInteger(level) || level < 1 || level > 5) {
    throw new MetricsError(
      "invalid_option",
      `toMarkdown: expected headingLevel an integer in [1, 5], got ${level}`,
    );
  }
  const mistakesPerClass = options.mistakesPerClass ?? 3;
  const h = (depth: number, text: string) => `${"#".repeat(level + depth)} ${text}`;
  const name = (c: number) => cell(result.classNames[c] ?? String(c));
  const out: string[] = [];

  out.push(h(0, options.title ?? "Evaluation"));
  out.push(
    table(
      ["examples", ...result.topK.map((t) => `top-${t.k}`), "loss", "ECE"],
      ["r", ...result.topK.map(() => "r" as const), "r", "r"],
      [
        [
          String(result.examples),
          ...result.topK.map((t) => percent(t.accuracy)),
          fixed(result.loss) + (result.labelSmoothing > 0 ? ` (ε=${result.labelSmoothing})` : ""),
          percent(result.calibration.ece),
        ],
      ],
    ),
  );

  out.push(h(1, "Per class"));
  const worstConfusion = (c: number) => {
    const row = result.confusionMatrix[c]!;
    let best = -1;
    row.forEach((count, p) => {
      if (p !== c && count > 0 && (best < 0 || count > row[best]!)) best = p;
    });
    return best < 0 ? "" : `${name(best)} (${row[best]})`;
  };
  out.push(
    table(
      ["class", "support", "precision", "recall (accuracy)", "F1", "most often mistaken for"],
      ["l", "r", "r", "r", "r", "l"],
      [
        ...result.perClass.map((c) => [
          name(c.classId),
          String(c.support),
          percent(c.precision),
          percent(c.recall),
          percent(c.f1),
          worstConfusion(c.classId),
        ]),
        ...(["macro", "weighted"] as const).map((avg) => [
          `*${avg} average*`,
          String(result.examples),
          percent(result[avg].precision),
          percent(result[avg].recall),
          percent(result[avg].f1),
          "",
        ]),
      ],
    ),
  );

  if (result.mostConfused.length > 0) {
    out.push(h(1, "Most confused pairs"));
    out.push(
      table(
        ["true class", "predicted as", "count", "share of true class"],
        ["l", "l", "r", "r"],
        result.mostConfused.map((p) => [
          name(p.trueClass),
          name(p.predictedClass),
          String(p.count),
          percent(p.rate),
        ]),
      ),
    );
  }

  const cal = result.calibration;
  out.push(h(1, "Calibration"));
  out.push(
    `Expected calibration error ${percent(cal.ece)}, maximum ${percent(cal.mce)}, ` +
      `mean confidence ${percent(cal.meanConfidence)} against accuracy ${percent(result.accuracy)} ` +
      `(${cal.bins.length} equal-width bins; empty bins omitted).`,
  );
  out.push(
    table(
      ["confidence", "count", "accuracy", "mean confidence", "gap"],
      ["l", "r", "r", "r", "r"],
      cal.bins
        .filter((b) => b.count > 0)
        .map((b) => [
          `${b.lower.toFixed(2)}–${b.upper.toFixed(2)}`,
          String(b.count),
          percent(b.accuracy),
          percent(b.confidence),
          percent(b.accuracy - b.confidence),
        ]),
    ),
  );

  const mistakes = result.perClass.flatMap((c) => c.worstMistakes.slice(0, mistakesPerClass));
  if (mistakesPerClass > 0 && mistakes.length > 0) {
    out.push(h(1, "Most confident mistakes"));
    out.push(
      table(
        ["true class", "dataset index", "predicted as", "confidence", "p(true class)"],
        ["l", "r", "l", "r", "r"],
        mistakes.map((m) => [
          name(m.trueClass),
          String(m.index),
          name(m.predictedClass),
          percent(m.confidence),
          percent(m.trueClassProbability),
        ]),
      ),
    );
  }
  return `${out.join("\n\n")}\n`;
}
