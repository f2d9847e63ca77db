// Reading a run directory's saved configuration back (eval, export, resume).
import { readFile } from "node:fs/promises";
import { type ConfigPatch, resolveConfig, type TrainConfig } from "../config.js";
import { TrainerError } from "../errors.js";
import { runPaths } from "../run-dir.js";

/** `RUN_DIR/config.json`, validated like any config. */
export async function readRunConfig(runDir: string): Promise<TrainConfig> {
  const path = runPaths(runDir).config;
  let saved: TrainConfig;
  try {
    saved = JSON.parse(await readFile(path, "utf8")) as TrainConfig;
  } catch (cause) {
    throw new TrainerError(
      "run_invalid",
      `${path}: expected the config.json of a cnnkit-train run directory (${(cause as Error).message})`,
      { cause },
    );
  }
  const { preset, ...rest } = saved;
  return resolveConfig(preset, rest as ConfigPatch);
}
