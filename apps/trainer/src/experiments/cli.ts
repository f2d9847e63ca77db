// Entry point of `cnnkit-experiment <name> [options]`: flags → options → backend → experiments.
// Errors the user can act on print as one line, never a stack trace.
import { parseArgs } from "node:util";
import { useBackend } from "@cnnkit/backends";
import type { CliIO } from "../cli.js";
import {
  BACKEND_CHOICES,
  type BackendChoice,
  type ConfigPatch,
  MODEL_NAMES,
  type ModelName,
} from "../config.js";
import { isUsageError, TrainerError } from "../errors.js";
import { Progress } from "../progress.js";
import { type ExperimentOptions, resolveExperimentOptions } from "./options.js";
import { EXPERIMENT_NAMES, type ExperimentName, runExperiment } from "./run-experiment.js";

export const EXPERIMENT_HELP = `Usage: cnnkit-experiment <experiment> [options]

Experiments (each arm is a full training run in <out>/<experiment>/<arm>/, with its own
tensorboard/; each experiment writes its pictures, summary.md and summary.json):
  residuals      the same ResNet-20 with and without shortcuts: loss, per-block gradient norms
  augmentation   none vs crop+flip vs crop+flip+cutout: train/test accuracy and the gap
  pitfalls       wrong normalisation and a mis-sized OneCycleLR, against the correct run
  recipe         gradient clipping, weight EMA and label smoothing (calibration), as pictures
  features       first-layer filters, feature maps, Grad-CAM on the worst mistakes
  mixed-precision  float32 vs float16 EMULATED in float32 (no speed-up), without and with
                 loss scaling: gradients flushed to zero, the loss scale, the loss
  all            all six, one after the other

Options:
  --out DIR          output root (default runs/experiments)
  --scale N          N × the training and test images (default 1: the sizes below)
  --smoke            the quickest form: 64 training and 32 test images, widths 4,8,16,
                     one epoch; checks that it runs, shows nothing (flags still win)
  --model NAME       ${MODEL_NAMES.join(", ")}
  --widths A,B,C     stage widths (default 8,16,32; residuals 16,32,64)
  --epochs N         epochs per arm (default: each experiment's own, from 3 to 25)
  --batch-size N     (default 32)
  --max-lr X         peak learning rate (default 0.004)
  --seed N           (default 0)
  --grad-every N     residuals: record gradient norms every N steps (default 1)
  --run DIR          features: explain this trained run instead of training one
  --image N          features: test image for the feature maps (default 0)
  --backend NAME     ${BACKEND_CHOICES.join(", ")} (default auto)
  --data-dir DIR     CIFAR-10 archive or folder (default: the cnnkit cache)
  --data-url URL     mirror of the archive
  -h, --help

On a GPU, grow it: --scale 50 --widths 16,32,64 --epochs 20 --model resnet56
`;

function int(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new TrainerError(
      "flag_invalid",
      `--${flag}: expected a whole number, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** Runs `cnnkit-experiment` with `argv` (without node and the script) and returns the exit code. */
export async function main(
  argv: readonly string[],
  io: CliIO = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  try {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(argv);
    } catch (error) {
      if (error instanceof TrainerError) throw error;
      // node:util appends a hint about "--"; the first sentence says what was wrong.
      throw new TrainerError("flag_invalid", (error as Error).message.split(". To specify")[0]!);
    }
    const { values, positionals } = parsed;
    if (values.help || positionals.length === 0) {
      io.stdout.write(EXPERIMENT_HELP);
      return values.help ? 0 : 2;
    }
    const [name, ...extra] = positionals;
    if (!(EXPERIMENT_NAMES as readonly string[]).includes(name!) || extra.length > 0) {
      throw new TrainerError(
        "flag_invalid",
        `expected one experiment (${EXPERIMENT_NAMES.join(", ")}), got ${positionals.map((p) => JSON.stringify(p)).join(" ")}`,
      );
    }
    if (values.model !== undefined && !MODEL_NAMES.includes(values.model as ModelName)) {
      throw new TrainerError(
        "flag_invalid",
        `--model: expected one of ${MODEL_NAMES.join(", ")}, got ${JSON.stringify(values.model)}`,
      );
    }
    const backend = (values.backend ?? "auto") as BackendChoice;
    if (!BACKEND_CHOICES.includes(backend)) {
      throw new TrainerError(
        "flag_invalid",
        `--backend: expected one of ${BACKEND_CHOICES.join(", ")}, got ${JSON.stringify(backend)}`,
      );
    }
    const widths = values.widths?.split(",").map((w) => int("widths", w.trim())!);
    const maxLr = values["max-lr"] === undefined ? undefined : Number(values["max-lr"]);
    if (maxLr !== undefined && !(maxLr > 0)) {
      throw new TrainerError(
        "flag_invalid",
        `--max-lr: expected a number > 0, got ${JSON.stringify(values["max-lr"])}`,
      );
    }
    const patch: ConfigPatch = {
      model: values.model as ModelName | undefined,
      widths,
      epochs: int("epochs", values.epochs),
      batchSize: int("batch-size", values["batch-size"]),
      maxLr,
      seed: int("seed", values.seed),
      backend,
      dataDir: values["data-dir"],
      dataUrl: values["data-url"],
    };
    // Every flag is checked before the backend starts (wasm takes a moment, and prints).
    const options: ExperimentOptions = {
      out: values.out,
      scale: int("scale", values.scale),
      patch,
      smoke: values.smoke ?? false,
      gradEvery: int("grad-every", values["grad-every"]),
      run: values.run ?? null,
      image: int("image", values.image),
      progress: () => new Progress({ stream: io.stderr, every: 10 }),
      log: (line) => io.stderr.write(`${line}\n`),
    };
    resolveExperimentOptions(options);
    const chosen = await useBackend(backend);
    io.stderr.write(`backend: ${chosen.backend} (${chosen.reason})\n`);
    const results = await runExperiment(name as ExperimentName | "all", options);
    for (const r of results) io.stdout.write(`${r.experiment}: ${r.summary}\n`);
    return 0;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (error instanceof Error && typeof code === "string") {
      io.stderr.write(`cnnkit-experiment: ${error.message}\n`);
      return isUsageError(error) ? 2 : 1;
    }
    throw error;
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      out: { type: "string" },
      scale: { type: "string" },
      model: { type: "string" },
      widths: { type: "string" },
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      "max-lr": { type: "string" },
      seed: { type: "string" },
      "grad-every": { type: "string" },
      run: { type: "string" },
      image: { type: "string" },
      backend: { type: "string" },
      "data-dir": { type: "string" },
      "data-url": { type: "string" },
      smoke: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}
