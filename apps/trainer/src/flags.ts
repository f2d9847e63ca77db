// Command-line flags of `cnnkit-train` and how they map onto a configuration patch.
import { parseArgs } from "node:util";
import {
  BACKEND_CHOICES,
  type ConfigPatch,
  MODEL_NAMES,
  PRESET_NAMES,
  type PresetName,
} from "./config.js";
import { TrainerError } from "./errors.js";

/** The preset used without `--preset`. */
export const DEFAULT_PRESET: PresetName = "cpu";

export const COMMANDS = ["train", "eval", "export", "predict", "show-batch"] as const;
export type Command = (typeof COMMANDS)[number];

export const HELP = `cnnkit-train — train a ResNet on CIFAR-10 with TensorFlow.js, then evaluate, explain and export it.

Usage
  cnnkit-train [train] [--preset NAME] [--config FILE] [options]
  cnnkit-train --resume RUN_DIR
  cnnkit-train eval RUN_DIR|EXPORT_DIR      evaluate on the test set and write a report
  cnnkit-train export RUN_DIR               export checkpoints/best to RUN_DIR/export and verify it
  cnnkit-train predict EXPORT_DIR IMAGE…    top-k classes of PNG/JPEG images
  cnnkit-train show-batch [options]         write the augmented batch grid (check the data first)

Presets (--preset, default cpu)
  cpu      the fast recipe (fast-resnet 24/96/96 with a whitening stem, decoupled Nesterov SGD,
           triangular schedule, lookahead, alternating flip, translate 2, TTA), 4 epochs of
           50,000 images: aims at 85%+ within 15 minutes on 2 CPU cores (the default)
  cpu-long the fast recipe at 32/128/128, batch 512, 8 epochs: aims at 90%+ within 45 minutes
  full     the fast recipe at 128/384/384, 12 epochs: 94%+ (for a GPU backend)
  seed     the original recipe: SmallResNet, batch 128, AdamW (OneCycleLR peak 3e-4, wd 1e-4),
           clipping 1.0, random crop (pad 4) + flip, CIFAR-10 normalisation, 10 epochs
  smoke    about a minute on a few hundred real images (what the tests run)

Options (override the preset and the config file)
  --config FILE          JSON or YAML file of options (same names as config.json)
  --model NAME           ${MODEL_NAMES.join(" | ")}
  --widths A,B,C         stage widths, e.g. 16,32,64
  --no-shortcut          remove the residual paths (the residuals experiment)
  --epochs N             --batch-size N        --optimizer adamw|sgd|decoupled-sgd
  --max-lr X             peak learning rate of the schedule (decoupled-sgd: per 1,024 examples)
  --weight-decay X       --pct-start X         --label-smoothing X
  --schedule NAME        one-cycle | triangle  --momentum X (SGD, when the schedule leaves it)
  --bias-lr-scale X      lr multiplier of BatchNorm biases (decoupled-sgd)
  --no-lookahead         no lookahead averaging --tta 0|1|2   test-time augmentation at the end
  --no-whitening         fast-resnet's stem stays the identity-like default (no whitening)
  --whiten-bias-epochs N epochs the whitening stem's bias trains
  --grad-clip X          global-norm clipping (0 = off)
  --ema DECAY            evaluate an exponential moving average of the weights (0 = off)
  --precision P          fp32 (default) | fp16-emulated: float16 mixed precision EMULATED in
                         float32 (values rounded to half where a GPU stores them, float32 master
                         weights, dynamic loss scaling) to see gradient underflow; no speed-up:
                         slower than fp32
  --no-loss-scaling      fp16-emulated without loss scaling (small gradients flush to zero)
  --no-augment           no crop/flip          --cutout N   cutout square side
  --padding N            crop padding (translation)        --padding-mode zero|reflect
  --flip random|alternating|none
  --no-normalize         pixels/255 only (the wrong-statistics experiment)
  --train-subset N       train on N images     --test-subset N   evaluate on N images
  --seed N               everything random derives from it
  --backend NAME         ${BACKEND_CHOICES.join(" | ")} (default auto)
  --replicas N|auto      data-parallel: N copies of the model share the cores and each batch
                         (wasm/cpu; BatchNorm then sees batch/N images). auto (default): one
                         per core while each gets 32+ images; 1 on GPU backends
  --step-graph           each training step as one ONNX Runtime session (forward, loss and
                         every gradient in one graph; needs onnxruntime-node, replicas 1, fp32).
                         Default: wherever that holds and the model's layers allow
  --no-step-graph        always kernel by kernel
  --data-dir DIR         where CIFAR-10 is, or is cached (env CNNKIT_DATA_DIR)
  --data-url URL         mirror of the archive: http(s)://, file:// or a path (env CNNKIT_CIFAR10_URL)
  --out DIR              run directory (default runs/<timestamp>)
  --no-export            skip export and verification
  --resume RUN_DIR       continue RUN_DIR from checkpoints/last
  -h, --help             this text
`;

/**
 * The flags that say where things are and what runs them, not the recipe: the only ones a
 * command that reads a run's saved config.json (`--resume`, `eval RUN_DIR`, `export RUN_DIR`) takes.
 */
export const ENVIRONMENT_FLAGS = [
  "backend",
  "replicas",
  "step-graph",
  "no-step-graph",
  "data-dir",
  "data-url",
  "no-export",
  "test-subset",
] as const;

export interface ParsedCommand {
  command: Command;
  preset: PresetName;
  configFile: string | null;
  patch: ConfigPatch;
  resume: string | null;
  positionals: string[];
  help: boolean;
  /** The flags given that are neither environment flags nor `--resume`/`--help`, as typed (`--max-lr`). */
  recipeFlags: string[];
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) {
    throw new TrainerError("flag_invalid", `--${flag}: expected a number, got "${v}"`);
  }
  return n;
}

export function parseFlags(argv: readonly string[]): ParsedCommand {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (cause) {
    throw new TrainerError("flag_invalid", `${(cause as Error).message} (see --help)`, { cause });
  }
  const { values: v, positionals } = parsed;
  let command: Command = "train";
  if (positionals[0] && (COMMANDS as readonly string[]).includes(positionals[0])) {
    command = positionals.shift() as Command;
  } else if (positionals.length > 0) {
    throw new TrainerError(
      "flag_invalid",
      `unknown command "${positionals[0]}": expected one of ${COMMANDS.join(", ")} (see --help)`,
    );
  }
  // `cpu` by default: `pnpm train` with no flag must finish on a laptop; `seed` (the original
  // recipe, 500,000 SmallResNet images) would take days on the wasm backend.
  const preset = (v.preset ?? DEFAULT_PRESET) as PresetName;
  if (!PRESET_NAMES.includes(preset)) {
    throw new TrainerError(
      "flag_invalid",
      `--preset: expected one of ${PRESET_NAMES.join(", ")}, got "${v.preset}"`,
    );
  }
  const widths = v.widths?.split(",").map((w, i) => num(`widths[${i}]`, w) as number);
  const gradClip = num("grad-clip", v["grad-clip"]);
  const ema = num("ema", v.ema);
  const augment: ConfigPatch["augment"] = {};
  if (v["no-augment"]) Object.assign(augment, { crop: false, flip: false });
  const padding = num("padding", v.padding);
  if (padding !== undefined) augment.padding = padding;
  if (v["padding-mode"] !== undefined) {
    augment.paddingMode = v["padding-mode"] as NonNullable<ConfigPatch["augment"]>["paddingMode"];
  }
  if (v.flip !== undefined) {
    if (!["random", "alternating", "none"].includes(v.flip)) {
      throw new TrainerError(
        "flag_invalid",
        `--flip: expected random, alternating or none, got "${v.flip}"`,
      );
    }
    augment.flip = v.flip !== "none";
    augment.alternateFlip = v.flip === "alternating";
  }
  const cutout = num("cutout", v.cutout);
  if (cutout !== undefined) augment.cutout = cutout;
  const patch: ConfigPatch = {
    model: v.model as ConfigPatch["model"],
    widths,
    shortcut: v["no-shortcut"] ? "none" : undefined,
    epochs: num("epochs", v.epochs),
    batchSize: num("batch-size", v["batch-size"]),
    optimizer: v.optimizer as ConfigPatch["optimizer"],
    maxLr: num("max-lr", v["max-lr"]),
    weightDecay: num("weight-decay", v["weight-decay"]),
    pctStart: num("pct-start", v["pct-start"]),
    schedule: v.schedule as ConfigPatch["schedule"],
    momentum: num("momentum", v.momentum),
    biasLrScale: num("bias-lr-scale", v["bias-lr-scale"]),
    lookahead: v["no-lookahead"] ? false : undefined,
    whitening: v["no-whitening"] ? false : undefined,
    whitenBiasEpochs: num("whiten-bias-epochs", v["whiten-bias-epochs"]),
    tta: num("tta", v.tta) as ConfigPatch["tta"],
    gradClip: gradClip === undefined ? undefined : gradClip === 0 ? null : gradClip,
    labelSmoothing: num("label-smoothing", v["label-smoothing"]),
    ema: ema === undefined ? undefined : ema === 0 ? null : ema,
    precision: v.precision as ConfigPatch["precision"],
    lossScaling: v["no-loss-scaling"] ? false : undefined,
    normalize: v["no-normalize"] ? "none" : undefined,
    trainSubset: num("train-subset", v["train-subset"]),
    testSubset: num("test-subset", v["test-subset"]),
    seed: num("seed", v.seed),
    backend: v.backend as ConfigPatch["backend"],
    replicas: v.replicas === "auto" ? "auto" : num("replicas", v.replicas),
    stepGraph: v["step-graph"] ? true : v["no-step-graph"] ? false : undefined,
    dataDir: v["data-dir"],
    dataUrl: v["data-url"],
    out: v.out,
    export: v["no-export"] ? false : undefined,
    ...(Object.keys(augment).length > 0 ? { augment } : {}),
  };
  return {
    command,
    preset,
    configFile: v.config ?? null,
    patch,
    resume: v.resume ?? null,
    positionals,
    help: Boolean(v.help),
    recipeFlags: Object.keys(v)
      .filter(
        (k) =>
          k !== "resume" && k !== "help" && !(ENVIRONMENT_FLAGS as readonly string[]).includes(k),
      )
      .map((k) => `--${k}`),
  };
}

function parse(argv: readonly string[]) {
  const s = { type: "string" } as const;
  const b = { type: "boolean" } as const;
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      preset: s,
      config: s,
      model: s,
      widths: s,
      "no-shortcut": b,
      epochs: s,
      "batch-size": s,
      optimizer: s,
      "max-lr": s,
      "weight-decay": s,
      "pct-start": s,
      schedule: s,
      momentum: s,
      "bias-lr-scale": s,
      "no-lookahead": b,
      "no-whitening": b,
      "whiten-bias-epochs": s,
      tta: s,
      padding: s,
      "padding-mode": s,
      flip: s,
      "grad-clip": s,
      "label-smoothing": s,
      ema: s,
      precision: s,
      "no-loss-scaling": b,
      "no-augment": b,
      cutout: s,
      "no-normalize": b,
      "train-subset": s,
      "test-subset": s,
      seed: s,
      backend: s,
      replicas: s,
      "step-graph": b,
      "no-step-graph": b,
      "data-dir": s,
      "data-url": s,
      out: s,
      "no-export": b,
      resume: s,
      help: { type: "boolean", short: "h" },
    },
  });
}
