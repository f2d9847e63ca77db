// Entry point of `cnnkit-train`: flags → configuration → backend → the command. Errors that the
// user can act on (bad flag, missing data, diverged run) print as one line, never a stack trace.
import { resolve } from "node:path";
import { threadsPerReplica, useBackend } from "@cnnkit/backends";
import { formatVerifyReport } from "@cnnkit/export";
import { evaluateExport, evaluateRun, isExportDir } from "./commands/eval.js";
import { exportRun } from "./commands/export-run.js";
import { predictLines } from "./commands/predict.js";
import { readRunConfig } from "./commands/run-config.js";
import { showBatch } from "./commands/show-batch.js";
import { readConfigFile, resolveConfig, type TrainConfig } from "./config.js";
import { loadDataset, selectRunData } from "./data.js";
import { TrainerError } from "./errors.js";
import { HELP, type ParsedCommand, parseFlags } from "./flags.js";
import { Progress } from "./progress.js";
import { resolveReplicas } from "./replicas.js";
import { writeReport } from "./report.js";
import { defaultRunDir, runPaths } from "./run-dir.js";
import { train } from "./train.js";

/** Where the CLI writes; tests pass their own. */
export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Abort to stop training as Ctrl-C does. Defaults to one wired to SIGINT. */
  signal?: AbortSignal;
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
      return code === "flag_invalid" || code === "config_invalid" ? 2 : 1;
    }
    throw error;
  }
}

async function configFor(parsed: ParsedCommand): Promise<TrainConfig> {
  const file = parsed.configFile ? await readConfigFile(parsed.configFile) : {};
  return resolveConfig(parsed.preset, file, parsed.patch);
}

/** Flags that may change on resume or eval: where things are and what runs them, not the recipe. */
function environmentPatch(parsed: ParsedCommand) {
  const { backend, replicas, dataDir, dataUrl, export: doExport, testSubset } = parsed.patch;
  return { backend, replicas, dataDir, dataUrl, export: doExport, testSubset };
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
      const data = selectRunData(await loadDataset(config), config);
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
        : resolveConfig(
            (await readRunConfig(dir)).preset,
            await readRunConfig(dir),
            environmentPatch(parsed),
          );
      const selection = await useBackend(config.backend);
      say(`backend: ${selection.backend} (${selection.reason})`);
      const data = selectRunData(await loadDataset(config), config);
      if (parsed.command === "export") {
        const { dir: out, verify } = await exportRun(dir, { data, config });
        say(formatVerifyReport(verify));
        say(`exported to ${out}`);
        return verify.ok ? 0 : 1;
      }
      const { result, reportDir } = exportDir
        ? await evaluateExport(dir, config, data, { backend: selection.backend })
        : await evaluateRun(dir, config, data, { backend: selection.backend });
      say(
        `test accuracy ${(result.accuracy * 100).toFixed(2)}% on ${result.examples} images; report in ${reportDir}`,
      );
      return 0;
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
    ? resolveConfig(
        (await readRunConfig(parsed.resume!)).preset,
        await readRunConfig(parsed.resume!),
        environmentPatch(parsed),
      )
    : await configFor(parsed);
  const runDir = resolve(parsed.resume ?? config.out ?? defaultRunDir());
  say(`cnnkit-train ${resume ? "resuming" : "training"}: ${runDir}`);
  say(JSON.stringify(config, null, 2));
  // With replicas, each one (this thread's included) gets its share of the cores. Which backend
  // "auto" lands on is not known yet; the threads only matter on wasm and cpu.
  const expected = resolveReplicas(config, config.backend === "auto" ? "wasm" : config.backend);
  const selection = await useBackend(config.backend, { threads: threadsPerReplica(expected) });
  say(`backend: ${selection.backend} (${selection.reason})`);

  const data = selectRunData(await loadDataset(config), config);
  say(`data: ${data.train.length} training images, ${data.test.length} test images`);

  // Ctrl-C once: finish the step, save checkpoints/last, exit cleanly. Twice: leave now.
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    io.stderr.write(
      "\ncnnkit-train: stopping after this step and saving a checkpoint (Ctrl-C again to quit now)\n",
    );
    controller.abort();
  };
  const signal = io.signal ?? controller.signal;
  if (!io.signal) process.on("SIGINT", onSigint);
  let result: Awaited<ReturnType<typeof train>>;
  try {
    result = await train(config, {
      runDir,
      resume,
      data,
      signal,
      backend: { backend: selection.backend, reason: selection.reason },
      progress: new Progress({ stream: io.stderr, every: config.logEvery }),
    });
  } finally {
    process.off("SIGINT", onSigint);
  }
  const paths = runPaths(runDir);
  if (result.status === "interrupted") {
    say(
      `interrupted: checkpoint saved in ${paths.last}; continue with: cnnkit-train --resume ${runDir}`,
    );
    return 130;
  }
  if (result.bestResult) {
    await writeReport(paths.report, {
      config,
      result: result.bestResult,
      test: data.test,
      history: result.history,
      stepsPerEpoch: result.stepsPerEpoch,
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
    const { verify } = await exportRun(runDir, { data, config });
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
}
