// Entry point of `cnnkit-train`: flags → configuration → backend → the command. Errors that the
// user can act on (bad flag, missing data, diverged run) print as one line, never a stack trace.
import { readdir, rm } from "node:fs/promises";
import { relative, resolve } from "node:path";
import { useBackend } from "@cnnkit/backends";
import { assertExportReplaceable, ExportError, formatVerifyReport } from "@cnnkit/export";
import { threadsPerReplica } from "@cnnkit/train/data-parallel";
import { evaluateExport, evaluateRun, isExportDir } from "./commands/eval.js";
import { exportRun } from "./commands/export-run.js";
import { predictLines } from "./commands/predict.js";
import { readRunConfig } from "./commands/run-config.js";
import { showBatch } from "./commands/show-batch.js";
import { readConfigFile, resolveConfig, type TrainConfig } from "./config.js";
import { loadDataset, type RunData, selectRunData } from "./data.js";
import { isUsageError, TrainerError } from "./errors.js";
import { evaluationRuntimeFor } from "./evaluate.js";
import { ENVIRONMENT_FLAGS, HELP, type ParsedCommand, parseFlags } from "./flags.js";
import { Progress } from "./progress.js";
import { resolveReplicas } from "./replicas.js";
import { readReportCurves, writeReport } from "./report.js";
import {
  defaultRunDir,
  exists,
  hasCheckpoint,
  removeStaleTemporaries,
  runPaths,
} from "./run-dir.js";
import { lockRunDir } from "./run-lock.js";
import { train } from "./train.js";

/** The signals that stop training cleanly (a checkpoint first), and the exit code of each. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/** Where the CLI writes; tests pass their own. */
export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Abort to stop training as Ctrl-C does. Defaults to one wired to SIGINT. */
  signal?: AbortSignal;
  /** The data, already loaded and subset (tests pass synthetic data). Defaults to loading it as the config says. */
  data?: RunData;
}

/** Runs `cnnkit-train` with `argv` (without node and the script) and returns the exit code. */
export async function main(
  argv: readonly string[],
  io: CliIO = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  try {
    const parsed = parseFlags(argv);
    if (parsed.help) {
      io.stdout.write(HELP);
      return 0;
    }
    return await run(parsed, io);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (error instanceof Error && typeof code === "string") {
      io.stderr.write(`cnnkit-train: ${error.message}\n`);
      return isUsageError(error) ? 2 : 1;
    }
    throw error;
  }
}

async function configFor(parsed: ParsedCommand): Promise<TrainConfig> {
  const file = parsed.configFile ? await readConfigFile(parsed.configFile) : {};
  return resolveConfig(parsed.preset, file, parsed.patch);
}

/**
 * Flags that may change on resume or eval: where things are and what runs them, not the recipe.
 * Any other flag would be ignored (the run's config.json decides): refused, naming it.
 */
function environmentPatch(parsed: ParsedCommand, what: string) {
  if (parsed.recipeFlags.length > 0) {
    const given = parsed.recipeFlags.join(", ");
    throw new TrainerError(
      "flag_invalid",
      `${what} uses the run's saved config.json, so ${given} would be ignored: give only ${ENVIRONMENT_FLAGS.map((f) => `--${f}`).join(", ")} with it${what.startsWith("--resume") ? " (a new run with --out takes another recipe)" : ""}`,
    );
  }
  const { backend, replicas, dataDir, dataUrl, export: doExport, testSubset } = parsed.patch;
  return { backend, replicas, dataDir, dataUrl, export: doExport, testSubset };
}

/** A run folder's saved config.json with the environment flags over it. */
async function runConfigWith(
  runDir: string,
  patch: ReturnType<typeof environmentPatch>,
): Promise<TrainConfig> {
  const saved = await readRunConfig(runDir);
  return resolveConfig(saved.preset, saved, patch);
}

/** The run's data: the caller's, or loaded as `config` says. */
async function dataFor(config: TrainConfig, io: CliIO): Promise<RunData> {
  return io.data ?? selectRunData(await loadDataset(config), config);
}

/**
 * Runs `work` holding the run folder's lock, after cleaning up what a killed process left there.
 * Only one process writes a run folder at a time.
 */
async function withRunLock<T>(
  runDir: string,
  command: string,
  say: (line: string) => void,
  work: () => Promise<T>,
): Promise<T> {
  const lock = await lockRunDir(runDir, command);
  try {
    const cleaned = await removeStaleTemporaries(runDir);
    if (cleaned.length > 0) {
      say(
        `cleaned up after a process killed while writing ${runDir}: ${cleaned.map((p) => relative(runDir, p)).join(", ")}`,
      );
    }
    return await work();
  } finally {
    await lock.release();
  }
}

/** Refuses before any work when the export at the end would have to replace files the app did not write. */
async function checkExportTarget(runDir: string, hint = ""): Promise<void> {
  try {
    await assertExportReplaceable(runPaths(runDir).export);
  } catch (error) {
    if (ExportError.isInstance(error) && error.code === "exists") {
      throw new TrainerError("export_blocked", `${error.message}${hint}`, {
        cause: error,
      });
    }
    throw error;
  }
}

async function run(parsed: ParsedCommand, io: CliIO): Promise<number> {
  const say = (line: string) => io.stdout.write(`${line}\n`);
  switch (parsed.command) {
    case "predict": {
      const [dir, ...images] = parsed.positionals;
      if (!dir)
        throw new TrainerError("flag_invalid", "predict: expected EXPORT_DIR IMAGE… (see --help)");
      await useBackend(parsed.patch.backend ?? "auto");
      for (const line of await predictLines(dir, images)) say(line);
      return 0;
    }
    case "show-batch": {
      const config = await configFor(parsed);
      // The batch becomes tensors: a fresh process has no backend until one is chosen.
      await useBackend(config.backend);
      const data = await dataFor(config, io);
      const path = await showBatch(config, data, resolve(config.out ?? "runs/show-batch"));
      say(`wrote ${path}`);
      return 0;
    }
    case "eval":
    case "export": {
      const [dir] = parsed.positionals;
      if (!dir) {
        throw new TrainerError(
          "flag_invalid",
          `${parsed.command}: expected a RUN_DIR${parsed.command === "eval" ? " or EXPORT_DIR" : ""} (see --help)`,
        );
      }
      const exportDir = parsed.command === "eval" && (await isExportDir(dir));
      // An export has no config.json: evaluate it on the preset's data choices.
      const config = exportDir
        ? await configFor(parsed)
        : await runConfigWith(dir, environmentPatch(parsed, `${parsed.command} ${dir}`));
      const command = parsed.command;
      const work = async () => {
        if (command === "export") await checkExportTarget(dir);
        const selection = await useBackend(config.backend);
        say(`backend: ${selection.backend} (${selection.reason})`);
        const data = await dataFor(config, io);
        if (command === "export") {
          const { dir: out, verify } = await exportRun(dir, { data, config });
          say(formatVerifyReport(verify));
          say(`exported to ${out}`);
          return verify.ok ? 0 : 1;
        }
        const evalOptions = {
          backend: selection.backend,
          evaluation: evaluationRuntimeFor(selection),
          say,
        };
        const { result, reportDir } = exportDir
          ? await evaluateExport(dir, config, data, evalOptions)
          : await evaluateRun(dir, config, data, evalOptions);
        say(
          `test accuracy ${(result.accuracy * 100).toFixed(2)}% on ${result.examples} images; report in ${reportDir}`,
        );
        return 0;
      };
      // A run folder gets a report or an export written into it: one writer at a time.
      return exportDir ? work() : withRunLock(resolve(dir), command, say, work);
    }
    case "train":
      return trainCommand(parsed, io, say);
  }
}

async function trainCommand(
  parsed: ParsedCommand,
  io: CliIO,
  say: (line: string) => void,
): Promise<number> {
  const resume = parsed.resume !== null;
  const config = resume
    ? await runConfigWith(parsed.resume!, environmentPatch(parsed, `--resume ${parsed.resume}`))
    : await configFor(parsed);
  const runDir = resolve(parsed.resume ?? config.out ?? defaultRunDir());
  say(`cnnkit-train ${resume ? "resuming" : "training"}: ${runDir}`);
  return withRunLock(runDir, resume ? "resume" : "train", say, async () => {
    const restart = await mustRestart(runDir, resume, say);
    return trainLocked(config, runDir, { resume: resume && !restart, restart }, io, say);
  });
}

/**
 * Whether the run must start from the beginning although the folder has a config.json: a run
 * killed before its first checkpoint left one and nothing to resume from. `--resume` then starts
 * it over with its saved config, and a new run may take the folder; both say so. A folder with a
 * checkpoint is refused to a new run (before any data is loaded), as is a config.json that is
 * not a run's.
 */
async function mustRestart(
  runDir: string,
  resume: boolean,
  say: (line: string) => void,
): Promise<boolean> {
  const paths = runPaths(runDir);
  if (!(await exists(paths.config))) {
    // checkpoints/last and best are replaced whole at every save: never over someone else's.
    const held = await readdir(paths.checkpoints).catch(() => [] as string[]);
    if (held.length > 0) {
      throw new TrainerError(
        "run_exists",
        `${paths.checkpoints}: holds ${held.join(", ")} but ${runDir} has no config.json: not a run this app can continue or replace; choose another --out`,
      );
    }
    return false;
  }
  if (await hasCheckpoint(runDir)) {
    if (resume) return false;
    throw new TrainerError(
      "run_exists",
      `${runDir} already holds a run (config.json); continue it with --resume ${runDir}, or choose another --out`,
    );
  }
  if (!resume) {
    // A config.json of someone else's is left alone.
    await readRunConfig(runDir).catch((cause: Error) => {
      throw new TrainerError(
        "run_exists",
        `${paths.config}: the folder holds a config.json that is not a cnnkit-train run's (${cause.message}); move it away, or choose another --out`,
        { cause },
      );
    });
  }
  say(
    resume
      ? `${runDir}: the run stopped before its first checkpoint (config.json, no checkpoints/last); starting it from the beginning with its saved config.json`
      : `${runDir}: holds a run that stopped before its first checkpoint (config.json, no checkpoints/last); starting this run there in its place`,
  );
  return true;
}

async function trainLocked(
  config: TrainConfig,
  runDir: string,
  start: { resume: boolean; restart: boolean },
  io: CliIO,
  say: (line: string) => void,
): Promise<number> {
  const { resume, restart } = start;
  if (config.export) await checkExportTarget(runDir, " (or run with --no-export)");
  say(JSON.stringify(config, null, 2));
  // With replicas, each one (this thread's included) gets its share of the cores. Which backend
  // "auto" lands on is not known yet; the threads only matter on wasm and cpu.
  const expected = resolveReplicas(config, config.backend === "auto" ? "wasm" : config.backend);
  const selection = await useBackend(config.backend, { threads: threadsPerReplica(expected) });
  say(`backend: ${selection.backend} (${selection.reason})`);

  const data = await dataFor(config, io);
  say(`data: ${data.train.length} training images, ${data.test.length} test images`);

  // The config.json of a run that never reached a checkpoint: train() writes this run's in its
  // place at once (removed only now, so a failure to load the data above leaves it there).
  if (restart) await rm(runPaths(runDir).config);
  const stop = new StopSignals(io);
  try {
    const result = await train(config, {
      runDir,
      resume,
      data,
      signal: stop.signal,
      backend: { backend: selection.backend, reason: selection.reason },
      // With the convolutions on ONNX Runtime, the test set runs there as one graph.
      evaluation: evaluationRuntimeFor(selection),
      progress: new Progress({ stream: io.stderr, every: config.logEvery }),
    });
    stop.trainingDone();
    const paths = runPaths(runDir);
    if (result.status === "interrupted") {
      say(
        `interrupted: checkpoint saved in ${paths.last}; continue with: cnnkit-train --resume ${runDir}`,
      );
      return stop.exitCode;
    }
    // Stopped after the last step: training is complete and saved; what is left is skipped.
    const skipped = (what: string) => {
      say(
        `interrupted: training is complete (checkpoints in ${paths.checkpoints}); ${what} skipped: cnnkit-train --resume ${runDir} writes it`,
      );
      return stop.exitCode;
    };
    if (stop.signal.aborted) return skipped(config.export ? "the report and export" : "the report");
    if (result.bestResult) {
      await writeReport(paths.report, {
        config,
        result: result.bestResult,
        test: data.test,
        history: result.history,
        stepsPerEpoch: result.stepsPerEpoch,
        curves: await readReportCurves(paths.tensorboard),
        source: `${paths.best} (epoch ${result.best?.epoch})`,
        backend: selection.backend,
      });
    } else {
      await evaluateRun(runDir, config, data, {
        backend: selection.backend,
        stepsPerEpoch: result.stepsPerEpoch,
      });
    }
    say(`report: ${paths.report}/report.md and report.html`);
    if (config.export) {
      if (stop.signal.aborted) return skipped("the export");
      const { verify } = await exportRun(runDir, { data, config }).catch((error) => {
        if (ExportError.isInstance(error) && error.code === "exists") {
          throw new TrainerError(
            "export_blocked",
            `${error.message}; the run itself is complete: export it later with cnnkit-train export ${runDir}`,
            { cause: error },
          );
        }
        throw error;
      });
      say(formatVerifyReport(verify));
      if (!verify.ok) {
        io.stderr.write(
          `cnnkit-train: the export in ${paths.export} failed verification (see verification.txt)\n`,
        );
        return 1;
      }
      say(`export: ${paths.export} (verified)`);
    }
    const best = result.best;
    say(
      `done: best test accuracy ${best ? `${(best.accuracy * 100).toFixed(2)}% at epoch ${best.epoch}` : "n/a"}; ` +
        `run directory ${runDir}`,
    );
    return 0;
  } finally {
    stop.uninstall();
  }
}

/**
 * Ctrl-C (SIGINT) or SIGTERM once: training stops after the step it is in and saves
 * checkpoints/last, or, once training is done, before the report or the export; the command
 * exits 130 (SIGINT) or 143 (SIGTERM). The same signal again: exit now. Tests pass
 * `io.signal` instead, and no handler is installed.
 */
class StopSignals {
  readonly signal: AbortSignal;
  #controller = new AbortController();
  #by: "SIGINT" | "SIGTERM" = "SIGINT";
  #training = true;
  #handler = (signal: "SIGINT" | "SIGTERM") => {
    if (this.#controller.signal.aborted) process.exit(EXIT_CODES[signal]);
    this.#by = signal;
    this.io.stderr.write(
      this.#training
        ? `\ncnnkit-train: ${signal}: stopping after this step and saving a checkpoint (again to quit now)\n`
        : `\ncnnkit-train: ${signal}: training is complete and saved; skipping the report or export unless under way (again to quit now)\n`,
    );
    this.#controller.abort();
  };

  constructor(private readonly io: CliIO) {
    this.signal = io.signal ?? this.#controller.signal;
    if (!io.signal) for (const s of STOP_SIGNALS) process.on(s, this.#handler);
  }

  trainingDone(): void {
    this.#training = false;
  }

  get exitCode(): number {
    return EXIT_CODES[this.#by];
  }

  uninstall(): void {
    for (const s of STOP_SIGNALS) process.off(s, this.#handler);
  }
}
