// Markdown pieces of the experiment summaries: tables of measured numbers, formatted one way.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Picture, savePicture } from "@cnnkit/viz";

export function pct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "n/a" : `${(x * 100).toFixed(1)}%`;
}

export function num(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "n/a";
  return Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(digits) : x.toExponential(2);
}

export function table(headers: string[], rows: string[][]): string {
  return [
    `| ${headers.join(" | ")} |`,
    `|${headers.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** Mean of the last `fraction` of a series (a steadier "final loss" than the last noisy step). */
export function tailMean(values: readonly number[], fraction = 0.2): number {
  const n = Math.max(1, Math.round(values.length * fraction));
  const tail = values.slice(-n);
  return tail.reduce((a, b) => a + b, 0) / tail.length;
}

/** What every experiment hands back: where it wrote, and the numbers its summary states. */
export interface ExperimentResult {
  experiment: string;
  dir: string;
  /** `summary.md`. */
  summary: string;
  /** Picture files written, absolute paths. */
  pictures: string[];
  /** The measured numbers, also saved as `summary.json`. */
  numbers: Record<string, number | null>;
}

/** Writes `summary.md` and `summary.json` into `dir`. */
export async function writeSummary(
  dir: string,
  markdown: string,
  numbers: Record<string, number | null>,
): Promise<string> {
  const path = join(dir, "summary.md");
  await writeFile(path, `${markdown.trim()}\n`);
  await writeFile(join(dir, "summary.json"), `${JSON.stringify(numbers, null, 2)}\n`);
  return path;
}

/** The TensorBoard line every summary ends with. */
export function tensorboardHint(dir: string): string {
  return `Compare the arms in TensorBoard: \`tensorboard --logdir ${dir}\` (one run per arm).`;
}

/** `<out>/<experiment>/`, created, and a `save` that writes a picture there and lists it in `pictures`. */
export async function experimentFolder(
  out: string,
  experiment: string,
): Promise<{
  dir: string;
  pictures: string[];
  save: (name: string, picture: Picture) => Promise<void>;
}> {
  const dir = join(out, experiment);
  await mkdir(dir, { recursive: true });
  const pictures: string[] = [];
  const save = async (name: string, picture: Picture) => {
    const path = join(dir, name);
    await savePicture(picture, path);
    pictures.push(path);
  };
  return { dir, pictures, save };
}
