// The commands the documentation shows, read from the Markdown itself (every line of every
// ```sh block), and what the docs test does with each: run `cnnkit-train` and
// `cnnkit-experiment` commands in their quickest form, or say why a command is not run here.
// A command that is neither fails the test, so a new command in a doc cannot go unchecked.

/** The documents whose commands are run, relative to the repository root, in reading order. */
export const DOCS = ["README.md", "apps/trainer/README.md", "docs/walkthrough.md"] as const;

export interface DocCommand {
  /** The document, relative to the repository root. */
  file: string;
  /** 1-based line of the command's first line. */
  line: number;
  /** The command as written (continuation lines joined, comment removed). */
  text: string;
}

/** Every command of the ```sh / ```bash / ```shell blocks of `markdown`, split at `&&`. */
export function docCommands(markdown: string, file: string): DocCommand[] {
  const commands: DocCommand[] = [];
  let inShell = false;
  // A command continued on the next line (a trailing backslash), with the line it started on.
  let start = 0;
  let pending = "";
  markdown.split("\n").forEach((raw, i) => {
    const fence = /^\s*```(\w*)/.exec(raw);
    if (fence) {
      inShell = !inShell && ["sh", "bash", "shell"].includes(fence[1]!);
      pending = "";
      return;
    }
    if (!inShell) return;
    const code = stripComment(raw).trim();
    if (pending === "") start = i + 1;
    const text = `${pending} ${code}`.trim();
    if (text.endsWith("\\")) {
      pending = text.slice(0, -1).trim();
      return;
    }
    pending = "";
    for (const part of text.split("&&")) {
      if (part.trim()) commands.push({ file, line: start, text: part.trim() });
    }
  });
  return commands;
}

/** The line without a trailing `# comment` (a `#` outside quotes, after a space or at the start). */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) {
      return line.slice(0, i);
    }
  }
  return line;
}

/** Splits a command into words (single and double quotes, no expansion), leading `VAR=value`s dropped. */
export function words(text: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of text.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3]!);
  while (out.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(out[0]!)) out.shift();
  return out;
}

/** Commands shown in the docs that this test does not run, and why. Each must match a command. */
export const NOT_RUN: readonly { pattern: RegExp; why: string }[] = [
  { pattern: /^(corepack )?pnpm install\b/, why: "installs the workspace; CI has done it before" },
  { pattern: /^(corepack )?pnpm verify$/, why: "is CI itself" },
  { pattern: /^tensorboard /, why: "TensorBoard is a separate (Python) program" },
  {
    pattern: /python3 apps\/trainer\/bench\/torch_fast\.py/,
    why: "the PyTorch twin: needs python3-torch and minutes",
  },
  { pattern: /^(cd \S+ )?(corepack )?pnpm bench/, why: "benchmarks time things; tests never do" },
  { pattern: /^cd apps\/trainer$/, why: "only changes directory for the benchmark after it" },
  { pattern: /^(npx|pnpm exec) vitest run/, why: "is the test suite this test is part of" },
];

export type Plan =
  | { run: "cnnkit-train" | "cnnkit-experiment"; argv: string[] }
  | { skip: string }
  | { unknown: true };

const TRAIN_COMMANDS = new Set(["train", "eval", "export", "predict", "show-batch"]);

/**
 * What the test does with a command: `cnnkit-train` (`corepack pnpm train …` or
 * `node apps/trainer/bin/cnnkit-train.js …`) trains with `--preset smoke` in place of the preset
 * shown; its other commands (`eval`, `predict`, `--resume`, …) run as written.
 * `cnnkit-experiment` (`corepack pnpm experiment …` or the bin) runs with `--smoke`.
 */
export function plan(text: string): Plan {
  const skip = NOT_RUN.find((n) => n.pattern.test(text));
  if (skip) return { skip: skip.why };
  const w = words(text);
  const at = (...prefix: string[]) => prefix.every((p, i) => w[i] === p);
  let cli: "cnnkit-train" | "cnnkit-experiment" | null = null;
  let argv: string[] = [];
  for (const [prefix, name] of [
    [["corepack", "pnpm", "train"], "cnnkit-train"],
    [["pnpm", "train"], "cnnkit-train"],
    [["node", "apps/trainer/bin/cnnkit-train.js"], "cnnkit-train"],
    [["corepack", "pnpm", "experiment"], "cnnkit-experiment"],
    [["pnpm", "experiment"], "cnnkit-experiment"],
    [["node", "apps/trainer/bin/cnnkit-experiment.js"], "cnnkit-experiment"],
  ] as const) {
    if (at(...prefix)) {
      cli = name;
      argv = w.slice(prefix.length);
      break;
    }
  }
  if (cli === null) return { unknown: true };
  const help = argv.includes("--help") || argv.includes("-h");
  if (cli === "cnnkit-experiment") {
    return { run: cli, argv: help || argv.includes("--smoke") ? argv : [...argv, "--smoke"] };
  }
  const command = TRAIN_COMMANDS.has(argv[0] ?? "") ? argv[0] : "train";
  if (help || argv.includes("--resume") || command !== "train") return { run: cli, argv };
  const i = argv.indexOf("--preset");
  const rest = i >= 0 ? [...argv.slice(0, i), ...argv.slice(i + 2)] : argv;
  return { run: cli, argv: [...rest, "--preset", "smoke"] };
}
