// Checkpoints: everything a run needs to continue exactly where it stopped (model, optimizer,
// EMA, schedule, data position, history), written as one directory swapped in atomically.
//
// Layout of `checkpoints/{best,last}/`:
//   model.json + group1-shard*.bin   the model, loadable by plain tfjs (`tf.loadLayersModel`)
//   optimizer.json + optimizer.bin   @cnnkit/optim's state format, keyed by weight names
//   ema.json + ema.bin               the weight average, when the run keeps one
//   lookahead.json + lookahead.bin   the lookahead average and its step count, when the run keeps one
//   state.json                       epoch, step, schedule, RNG position, running sums, history,
//                                    and the SHA-256 of every other file (checked on every load)
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadArtifacts, saveArtifacts } from "@cnnkit/export";
import {
  getLookaheadState,
  getOptimizerState,
  getWeightEMAState,
  type Lookahead,
  type OptimizerState,
  type OptimizerStateManifest,
  setLookaheadState,
  setOptimizerState,
  setWeightEMAState,
  WeightEMA,
} from "@cnnkit/optim";
import type { DynamicLossScalerState } from "@cnnkit/train";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { TrainerError } from "./errors.js";
import { faultPoint } from "./fault-points.js";
import { exists, replaceDirAtomic } from "./run-dir.js";

/** One finished epoch, as `metrics.json` lists it. */
export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  /** Test accuracy with test-time augmentation (the config's `tta`), measured after the last epoch. */
  testAccuracyTta?: number;
  /** The learning rate of the epoch's last step. */
  lr: number;
  seconds: number;
  imagesPerSecond: number;
}

/** The loop's position and bookkeeping, saved as `state.json`. */
export interface TrainingState {
  /** The epoch to continue in (0-based); equals the finished epochs when `step` is 0. */
  epoch: number;
  /** The next step within `epoch`. */
  step: number;
  /** Optimizer steps taken so far (= schedule steps). */
  globalStep: number;
  /** `schedule.stateDict()`. */
  schedule: object;
  /**
   * Where the data stream is. Every random draw of the loader is a pure function of
   * (seed, epoch, step) and the initialisation of the seed, so this is the whole RNG state.
   */
  rng: { seed: number; epoch: number; step: number };
  /** Sums of the epoch in progress, so a mid-epoch resume reports the same epoch metrics. */
  running: { lossSum: number; correct: number; seen: number; seconds: number };
  history: EpochRecord[];
  best: { accuracy: number; epoch: number } | null;
  /** Seconds of training so far, over every session of the run. */
  elapsedSeconds: number;
  /** An emulated float16 run's loss scaler (`DynamicLossScaler.stateDict()`); absent in fp32. */
  lossScaler?: DynamicLossScalerState | null;
}

interface StateFile extends TrainingState {
  format: "cnnkit-trainer-checkpoint";
  version: 1;
  /**
   * SHA-256 (hex) of every other file of the checkpoint, by name, taken before the checkpoint is
   * swapped in. Absent in checkpoints written before the trainer recorded digests.
   */
  files?: Record<string, string>;
}

export interface CheckpointParts {
  model: LayersModel;
  optimizer: tf.Optimizer;
  ema?: WeightEMA | null;
  lookahead?: Lookahead | null;
}

// tfjs makes variable names unique per process (`stem_conv/kernel_3` when a model is built a
// fourth time), while the model file stores the layer's own names. Optimizer and EMA state are
// saved under those stable names and mapped back to the live variables on load.
function liveToStable(model: LayersModel): Map<string, string> {
  return new Map(model.weights.map((w) => [w.name, w.originalName]));
}

function stableToLive(model: LayersModel): Map<string, string> {
  return new Map(model.weights.map((w) => [w.originalName, w.name]));
}

function renameTensors(state: OptimizerState, rename: (name: string) => string): OptimizerState {
  const manifest: OptimizerStateManifest = {
    ...state.manifest,
    tensors: state.manifest.tensors.map((t) => ({ ...t, name: rename(t.name) })),
  };
  return { manifest, data: state.data };
}

/** Optimizer slots are named `<variable>/<slot>`: map the variable part. */
function slotRenamer(names: Map<string, string>): (name: string) => string {
  return (name) => {
    const cut = name.lastIndexOf("/");
    const mapped = cut > 0 ? names.get(name.slice(0, cut)) : undefined;
    return mapped === undefined ? name : `${mapped}${name.slice(cut)}`;
  };
}

/** EMA averages are named after their weight (stable or live, depending on @cnnkit/optim's version). */
function emaRenamer(names: Map<string, string>, wanted?: Set<string>): (name: string) => string {
  return (name) => (wanted?.has(name) ? name : (names.get(name) ?? name));
}

async function writeState(dir: string, name: string, state: OptimizerState): Promise<void> {
  await writeFile(join(dir, `${name}.bin`), state.data);
  await writeFile(join(dir, `${name}.json`), `${JSON.stringify(state.manifest, null, 2)}\n`);
}

async function readState(dir: string, name: string): Promise<OptimizerState> {
  const path = join(dir, `${name}.json`);
  const manifest = parseJson(await readCheckpointFile(path, "utf8"), path, "@cnnkit/optim state");
  const data = new Uint8Array(await readCheckpointFile(join(dir, `${name}.bin`)));
  return { manifest, data };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A checkpoint file's bytes, or a one-line error naming it. */
async function readCheckpointFile(path: string): Promise<Buffer>;
async function readCheckpointFile(path: string, encoding: "utf8"): Promise<string>;
async function readCheckpointFile(path: string, encoding?: "utf8"): Promise<Buffer | string> {
  try {
    return encoding ? await readFile(path, encoding) : await readFile(path);
  } catch (cause) {
    throw new TrainerError(
      "checkpoint_invalid",
      `${path}: cannot read this checkpoint file (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`,
      { cause },
    );
  }
}

/** JSON.parse, or a one-line error naming the file (a truncated write, a hand edit). */
function parseJson(text: string, path: string, what: string) {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new TrainerError(
      "checkpoint_invalid",
      `${path}: expected the JSON of ${what}, got ${text.length === 0 ? "an empty file" : `${text.length} bytes that do not parse (${(cause as Error).message}; truncated?)`}`,
      { cause },
    );
  }
}

/** `{ name: sha256 }` of every file in a checkpoint being written, state.json aside. */
async function digestFiles(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    if (name !== "state.json") files[name] = sha256(await readFile(join(dir, name)));
  }
  return files;
}

/**
 * Checks every file `state.json` lists against its SHA-256: weights, optimizer, EMA and lookahead
 * state altered or damaged on disk (same size or not) are refused, naming the file.
 */
async function verifyFiles(from: string, files: Record<string, string> | undefined): Promise<void> {
  for (const [name, expected] of Object.entries(files ?? {})) {
    const path = join(from, name);
    const got = sha256(await readCheckpointFile(path));
    if (got !== expected) {
      throw new TrainerError(
        "checkpoint_corrupt",
        `${path}: SHA-256 ${got} differs from the ${expected} recorded in ${join(from, "state.json")}: the file was altered or damaged after the checkpoint was written`,
      );
    }
  }
}

/** Writes a checkpoint into `dir` atomically: a reader sees the previous one or this one. */
export async function saveCheckpoint(
  dir: string,
  parts: CheckpointParts,
  state: TrainingState,
): Promise<void> {
  const { model, optimizer, ema, lookahead } = parts;
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  const names = liveToStable(model);
  const optimizerState = renameTensors(await getOptimizerState(optimizer), slotRenamer(names));
  const emaState = ema ? renameTensors(await getWeightEMAState(ema), emaRenamer(names)) : null;
  const lookaheadState = lookahead
    ? renameTensors(await getLookaheadState(lookahead), emaRenamer(names))
    : null;
  await replaceDirAtomic(dir, async (tmp) => {
    await saveArtifacts(tmp, artifacts!);
    await writeState(tmp, "optimizer", optimizerState);
    if (emaState) await writeState(tmp, "ema", emaState);
    if (lookaheadState) await writeState(tmp, "lookahead", lookaheadState);
    await faultPoint("checkpoint files written");
    // The digests of what was just written, before the swap: every load checks them.
    const file: StateFile = {
      format: "cnnkit-trainer-checkpoint",
      version: 1,
      ...state,
      files: await digestFiles(tmp),
    };
    await writeFile(join(tmp, "state.json"), `${JSON.stringify(file, null, 2)}\n`);
  });
}

/** A checkpoint directory, or the `.old` copy a crash mid-swap left beside it. */
async function checkpointDir(dir: string): Promise<string> {
  if (await exists(join(dir, "state.json"))) return dir;
  if (await exists(join(`${dir}.old`, "state.json"))) return `${dir}.old`;
  throw new TrainerError(
    "checkpoint_missing",
    `${dir}: expected a checkpoint (state.json, model.json, optimizer.json), found none`,
  );
}

async function readStateFile(from: string): Promise<StateFile> {
  const path = join(from, "state.json");
  const file = parseJson(
    await readCheckpointFile(path, "utf8"),
    path,
    "a cnnkit-trainer checkpoint",
  ) as StateFile;
  if (
    typeof file !== "object" ||
    file === null ||
    file.format !== "cnnkit-trainer-checkpoint" ||
    file.version !== 1
  ) {
    throw new TrainerError(
      "checkpoint_invalid",
      `${path}: expected a cnnkit-trainer-checkpoint v1, got ${JSON.stringify(file?.format)} v${JSON.stringify(file?.version)}`,
    );
  }
  return file;
}

/** Reads `state.json` of a checkpoint. */
export async function readTrainingState(dir: string): Promise<TrainingState> {
  const {
    format: _f,
    version: _v,
    files: _d,
    ...state
  } = await readStateFile(await checkpointDir(dir));
  return state;
}

/**
 * The checkpoint to load from (`dir`, or the `.old` copy a cut swap left), its files checked
 * against the digests its `state.json` records.
 */
async function openVerified(dir: string): Promise<{ from: string; file: StateFile }> {
  const from = await checkpointDir(dir);
  const file = await readStateFile(from);
  await verifyFiles(from, file.files);
  return { from, file };
}

/**
 * Writes the checkpoint's weights into `model` (built with the run's config), by layer weight
 * name, after checking the checkpoint's files against their digests.
 */
export async function loadModelWeights(dir: string, model: LayersModel): Promise<void> {
  const { from } = await openVerified(dir);
  await writeModelWeights(from, model);
}

async function writeModelWeights(from: string, model: LayersModel): Promise<void> {
  const artifacts = await loadArtifacts(join(from, "model.json"));
  const tensors = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
  try {
    for (const w of model.weights) {
      const t = tensors[w.originalName];
      if (!t || t.shape.join() !== w.shape.join()) {
        throw new TrainerError(
          "checkpoint_mismatch",
          `${from}/model.json: weight "${w.originalName}" expected shape [${w.shape}], got ${t ? `[${t.shape}]` : "none"} (a checkpoint of another model or widths?)`,
        );
      }
      w.write(t);
    }
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

async function loadEma(from: string, ema: WeightEMA, names: Map<string, string>): Promise<void> {
  const wanted = new Set(ema.getWeights().map((w) => w.name));
  await setWeightEMAState(
    ema,
    renameTensors(await readState(from, "ema"), emaRenamer(names, wanted)),
  );
}

/** Restores model, optimizer and EMA from a checkpoint and returns the loop's state. */
export async function loadCheckpoint(dir: string, parts: CheckpointParts): Promise<TrainingState> {
  const { from, file } = await openVerified(dir);
  const { format: _f, version: _v, files: _d, ...state } = file;
  await writeModelWeights(from, parts.model);
  const names = stableToLive(parts.model);
  await setOptimizerState(
    parts.optimizer,
    renameTensors(await readState(from, "optimizer"), slotRenamer(names)),
  );
  if (parts.ema) await loadEma(from, parts.ema, names);
  if (parts.lookahead) {
    const wanted = new Set(parts.lookahead.getWeights().map((w) => w.name));
    await setLookaheadState(
      parts.lookahead,
      renameTensors(await readState(from, "lookahead"), emaRenamer(names, wanted)),
    );
  }
  return state;
}

/**
 * Loads the weights to evaluate or export: the EMA average when the checkpoint has one (that is
 * what the run evaluated), else the trained weights.
 */
export async function loadInferenceWeights(
  dir: string,
  model: LayersModel,
): Promise<{ ema: boolean }> {
  const { from } = await openVerified(dir);
  await writeModelWeights(from, model);
  if (!(await exists(join(from, "ema.json")))) return { ema: false };
  const ema = new WeightEMA(model);
  try {
    await loadEma(from, ema, stableToLive(model));
    ema.swapIn();
  } finally {
    // The averages now live in the model; the shadows and the training weights can go.
    ema.dispose();
  }
  return { ema: true };
}
