// Optimizer (and weight-average) state for checkpoints: an in-memory form, and two files in the
// trainer's checkpoint directory written so that a crash never leaves a state that loads wrongly.

import { makeDirs } from "@cnnkit/make-dirs";
import { type DataType, type Optimizer, tensor, Variable } from "@tensorflow/tfjs-core";
import { OptimError } from "./errors.js";
import type { Lookahead } from "./lookahead.js";
import type { NamedTensor } from "./slot-optimizer.js";
import { checkOptions } from "./validate.js";
import type { WeightEMA } from "./weight-ema.js";

const FORMAT = "cnnkit-optim-state";
const VERSION = 1;

type StateKind = "optimizer" | "ema" | "lookahead";

/** One tensor's entry in {@link OptimizerStateManifest}. */
export interface StateTensorSpec {
  name: string;
  dtype: "float32" | "int32";
  shape: number[];
  /** Byte offset in the data. */
  offset: number;
}

/** The JSON half of a saved state; the tensors' bytes are the other half. */
export interface OptimizerStateManifest {
  format: typeof FORMAT;
  version: typeof VERSION;
  /** `"optimizer"`, `"ema"` or `"lookahead"`. */
  kind: StateKind;
  /** The optimizer's tfjs class name, e.g. `"cnnkit.AdamW"` (or `"WeightEMA"`, `"Lookahead"`). */
  className: string;
  /** `optimizer.getConfig()` at save time: hyperparameters, including the scheduled lr and beta1/momentum. */
  config: Record<string, unknown>;
  /** Optimizer iterations, EMA updates, or the steps a Lookahead counted. */
  steps: number;
  tensors: StateTensorSpec[];
  /** Total bytes of the data. */
  byteLength: number;
  /** SHA-256 of the data, hex, so a manifest never loads with another save's data. */
  sha256: string;
}

/** A state in memory: what the files hold. */
export interface OptimizerState {
  manifest: OptimizerStateManifest;
  data: Uint8Array;
}

/** Options of the file functions. */
export interface StateFileOptions {
  /** File stem inside the directory: `<name>.json` and `<name>.bin`. Defaults to `"optimizer"` (`"ema"`, `"lookahead"`). */
  name?: string;
}

/**
 * The checks every file function starts with: Node is there (the file functions fetch Node's
 * built-in modules when they run instead of importing them, so a browser bundle of this package
 * has no "node:*" import), and the file stem is valid.
 */
function fileName(where: string, options: StateFileOptions, fallback: string): string {
  const proc = (globalThis as { process?: Partial<NodeJS.Process> }).process;
  if (typeof proc?.getBuiltinModule !== "function") {
    throw new OptimError(
      "node_only",
      `${where}: expected Node.js >= 20.16 (process.getBuiltinModule) to use files, got a runtime without it; in a browser keep the in-memory state instead (getOptimizerState, getWeightEMAState, getLookaheadState, and the matching set… functions)`,
    );
  }
  const name = checkOptions(where, options, ["name"]).name ?? fallback;
  if (typeof name !== "string" || name === "" || /[/\\]/.test(name)) {
    throw new OptimError(
      "invalid_option",
      `${where}: expected name to be a file stem without slashes, got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

async function sha256(data: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest("SHA-256", data);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function encode(
  kind: StateKind,
  className: string,
  config: Record<string, unknown>,
  steps: number,
  named: NamedTensor[],
): Promise<OptimizerState> {
  const specs: StateTensorSpec[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const { name, tensor: t } of named) {
    if (t.dtype !== "float32" && t.dtype !== "int32") {
      throw new OptimError(
        "unsupported_dtype",
        `optimizer state tensor "${name}": expected float32 or int32, got ${t.dtype}`,
      );
    }
    const values = (await t.data()) as Float32Array | Int32Array;
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    specs.push({ name, dtype: t.dtype, shape: [...t.shape], offset });
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.byteLength;
  }
  return {
    manifest: {
      format: FORMAT,
      version: VERSION,
      kind,
      className,
      config,
      steps,
      tensors: specs,
      byteLength: data.byteLength,
      sha256: await sha256(data),
    },
    data,
  };
}

async function decode(state: OptimizerState, where: string): Promise<NamedTensor[]> {
  const { manifest, data } = state;
  if (manifest?.format !== FORMAT || manifest.version !== VERSION) {
    throw new OptimError(
      "invalid_state",
      `${where}: expected a ${FORMAT} v${VERSION} manifest, got format ${JSON.stringify(manifest?.format)} v${JSON.stringify(manifest?.version)}`,
    );
  }
  if (data.byteLength !== manifest.byteLength || (await sha256(data)) !== manifest.sha256) {
    throw new OptimError(
      "corrupt_state",
      `${where}: expected ${manifest.byteLength} bytes with sha256 ${manifest.sha256.slice(0, 12)}…, got ${data.byteLength} bytes that do not match (an interrupted save, or files from different saves)`,
    );
  }
  // Copy into an aligned buffer: typed-array views need 4-byte alignment.
  const aligned = new Uint8Array(data).buffer;
  return manifest.tensors.map((spec) => {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values =
      spec.dtype === "int32"
        ? new Int32Array(aligned, spec.offset, size)
        : new Float32Array(aligned, spec.offset, size);
    return { name: spec.name, tensor: tensor(values, spec.shape, spec.dtype as DataType) };
  });
}

function disposeCreated(named: NamedTensor[]): void {
  // getWeights() hands out the live slot variables plus new scalars; free only the scalars.
  for (const { tensor: t } of named) if (!(t instanceof Variable)) t.dispose();
}

/**
 * The optimizer's state (slots, per-variable steps, iterations, hyperparameters) in memory.
 * Works for any tf.Optimizer that implements getWeights(); cnnkit's AdamW and SGD name every
 * slot after its variable, so the state loads by name, not by order.
 */
export async function getOptimizerState(optimizer: Optimizer): Promise<OptimizerState> {
  const named = await optimizer.getWeights();
  try {
    return await encode(
      "optimizer",
      optimizer.getClassName(),
      { ...optimizer.getConfig() },
      optimizer.iterations,
      named,
    );
  } finally {
    disposeCreated(named);
  }
}

/**
 * Restores a state from {@link getOptimizerState} into an optimizer of the same class, as
 * PyTorch's `load_state_dict` does: slots, steps and hyperparameters (the lr and beta1/momentum
 * of the save; a schedule sets them again on the next step).
 */
export async function setOptimizerState(
  optimizer: Optimizer,
  state: OptimizerState,
): Promise<void> {
  const where = `setOptimizerState(${optimizer.getClassName()})`;
  if (
    state?.manifest?.kind !== "optimizer" ||
    state.manifest.className !== optimizer.getClassName()
  ) {
    throw new OptimError(
      "state_mismatch",
      `${where}: expected the state of a ${optimizer.getClassName()}, got one of ${JSON.stringify(state?.manifest?.className)} (${JSON.stringify(state?.manifest?.kind)})`,
    );
  }
  const named = await decode(state, where);
  try {
    await optimizer.setWeights(named);
  } finally {
    for (const { tensor: t } of named) t.dispose();
  }
  const target = optimizer as unknown as Record<string, unknown>;
  for (const key of ["learningRate", "beta1", "momentum"]) {
    const value = state.manifest.config[key];
    // Only the hyperparameters a schedule moves are settable; the rest are fixed at construction.
    if (typeof value === "number" && key in target) target[key] = value;
  }
}

/** A WeightEMA's averages and update count in memory. */
export async function getWeightEMAState(ema: WeightEMA): Promise<OptimizerState> {
  return encode(
    "ema",
    "WeightEMA",
    { decay: ema.decay, warmup: ema.warmup },
    ema.updates,
    ema.getWeights(),
  );
}

/** Restores averages from {@link getWeightEMAState}, matched by weight name. */
export async function setWeightEMAState(ema: WeightEMA, state: OptimizerState): Promise<void> {
  if (state?.manifest?.kind !== "ema") {
    throw new OptimError(
      "state_mismatch",
      `setWeightEMAState: expected a WeightEMA state, got ${JSON.stringify(state?.manifest?.kind)}`,
    );
  }
  const named = await decode(state, "setWeightEMAState");
  try {
    ema.setWeights(named, state.manifest.steps);
  } finally {
    for (const { tensor: t } of named) t.dispose();
  }
}

/**
 * Writes `<dir>/<name>.bin` then `<dir>/<name>.json`, each to a temporary file renamed into place,
 * so a reader sees either the old pair or the new one; a crash between the two renames leaves a
 * pair whose checksum disagrees, which loading reports instead of using.
 */
export async function writeStateFiles(
  state: OptimizerState,
  dir: string,
  name: string,
): Promise<void> {
  const fs = process.getBuiltinModule("node:fs/promises");
  const path = process.getBuiltinModule("node:path");
  // Not Node's recursive mkdir: it spins for ever under /proc (@cnnkit/make-dirs).
  await makeDirs(dir);
  const suffix = `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const bin = path.join(dir, `${name}.bin`);
  const json = path.join(dir, `${name}.json`);
  const write = async (file: string, bytes: Uint8Array | string): Promise<void> => {
    const handle = await fs.open(file + suffix, "w");
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
  };
  try {
    await write(bin, state.data);
    await write(json, `${JSON.stringify(state.manifest, null, 2)}\n`);
    await fs.rename(bin + suffix, bin);
    await fs.rename(json + suffix, json);
  } catch (error) {
    await fs.rm(bin + suffix, { force: true });
    await fs.rm(json + suffix, { force: true });
    throw error;
  }
}

/** Reads a pair written by {@link writeStateFiles}. */
export async function readStateFiles(dir: string, name: string): Promise<OptimizerState> {
  const fs = process.getBuiltinModule("node:fs/promises");
  const path = process.getBuiltinModule("node:path");
  const json = path.join(dir, `${name}.json`);
  const bin = path.join(dir, `${name}.bin`);
  let manifest: OptimizerStateManifest;
  let data: Uint8Array;
  try {
    manifest = JSON.parse(await fs.readFile(json, "utf8")) as OptimizerStateManifest;
    data = new Uint8Array(await fs.readFile(bin));
  } catch (cause) {
    throw new OptimError(
      "missing_state",
      `cannot read the optimizer state ${json} + ${name}.bin: ${(cause as Error).message}`,
      { cause },
    );
  }
  return { manifest, data };
}

/** Saves the optimizer part of a checkpoint directory: `<dir>/optimizer.json` + `<dir>/optimizer.bin`. */
export async function saveOptimizerState(
  optimizer: Optimizer,
  dir: string,
  options: StateFileOptions = {},
): Promise<void> {
  const name = fileName("saveOptimizerState", options, "optimizer");
  await writeStateFiles(await getOptimizerState(optimizer), dir, name);
}

/** Loads the optimizer part of a checkpoint directory written by {@link saveOptimizerState}. */
export async function loadOptimizerState(
  optimizer: Optimizer,
  dir: string,
  options: StateFileOptions = {},
): Promise<void> {
  const name = fileName("loadOptimizerState", options, "optimizer");
  await setOptimizerState(optimizer, await readStateFiles(dir, name));
}

/** Saves a WeightEMA into a checkpoint directory: `<dir>/ema.json` + `<dir>/ema.bin`. */
export async function saveWeightEMA(
  ema: WeightEMA,
  dir: string,
  options: StateFileOptions = {},
): Promise<void> {
  const name = fileName("saveWeightEMA", options, "ema");
  await writeStateFiles(await getWeightEMAState(ema), dir, name);
}

/** Loads a WeightEMA saved by {@link saveWeightEMA}. */
export async function loadWeightEMA(
  ema: WeightEMA,
  dir: string,
  options: StateFileOptions = {},
): Promise<void> {
  await setWeightEMAState(
    ema,
    await readStateFiles(dir, fileName("loadWeightEMA", options, "ema")),
  );
}

/** A Lookahead's averages, step count and settings in memory. */
export async function getLookaheadState(lookahead: Lookahead): Promise<OptimizerState> {
  return encode(
    "lookahead",
    "Lookahead",
    { totalSteps: lookahead.totalSteps, every: lookahead.every, base: lookahead.base },
    lookahead.steps,
    lookahead.getWeights(),
  );
}

/**
 * Restores averages and the step count from {@link getLookaheadState}, matched by weight name,
 * into a Lookahead built with the same totalSteps, every and base (a different one would not
 * continue the same run).
 */
export async function setLookaheadState(
  lookahead: Lookahead,
  state: OptimizerState,
): Promise<void> {
  if (state?.manifest?.kind !== "lookahead") {
    throw new OptimError(
      "state_mismatch",
      `setLookaheadState: expected a Lookahead state, got ${JSON.stringify(state?.manifest?.kind)}`,
    );
  }
  for (const key of ["totalSteps", "every", "base"] as const) {
    const saved = state.manifest.config[key];
    if (saved !== lookahead[key]) {
      throw new OptimError(
        "state_mismatch",
        `setLookaheadState: the state was saved with ${key} = ${JSON.stringify(saved)}, this Lookahead has ${lookahead[key]}; build it with the saved settings`,
      );
    }
  }
  const named = await decode(state, "setLookaheadState");
  try {
    lookahead.setWeights(named, state.manifest.steps);
  } finally {
    for (const { tensor: t } of named) t.dispose();
  }
}

/** Saves a Lookahead into a checkpoint directory: `<dir>/lookahead.json` + `<dir>/lookahead.bin`. */
export async function saveLookahead(
  lookahead: Lookahead,
  dir: string,
  options: StateFileOptions = {},
): Promise<void> {
  const name = fileName("saveLookahead", options, "lookahead");
  await writeStateFiles(await getLookaheadState(lookahead), dir, name);
}

/** Loads a Lookahead saved by {@link saveLookahead}. */
export async function loadLookahead(
  lookahead: Lookahead,
  dir: string,
  options: StateFileOptions = {},
): Promise<void> {
  const name = fileName("loadLookahead", options, "lookahead");
  await setLookaheadState(lookahead, await readStateFiles(dir, name));
}
