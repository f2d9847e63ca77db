// Reading an extracted dataset folder (binary or pickled) into one Cifar10 object.
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { checksumProblem } from "./checksum.js";
import {
  BIN_MD5,
  CIFAR10_CLASS_NAMES,
  CIFAR10_IMAGE_BYTES,
  PY_MD5,
  TEST_BATCH,
  TRAIN_BATCHES,
} from "./constants.js";
import { decodeBinBatch } from "./decode-bin.js";
import { decodePyBatch, decodePyMeta } from "./decode-py.js";
import { Cifar10Error } from "./errors.js";

/** One split: `length` images of 32×32×3 NHWC RGB bytes and their labels (0–9). */
export interface Cifar10Split {
  /** N×32×32×3 bytes, NHWC, RGB: pixel (y, x, c) of image i is at `((i·32 + y)·32 + x)·3 + c`. */
  images: Uint8Array;
  /** N labels, 0–9, indexes into `classNames`. */
  labels: Uint8Array;
  /** N, the number of images. */
  length: number;
}

/** The whole dataset: 50,000 training and 10,000 test images and the ten class names. */
export interface Cifar10 {
  train: Cifar10Split;
  test: Cifar10Split;
  classNames: string[];
}

export type FolderFormat = "bin" | "py";

export interface ReadFolderOptions {
  recordsPerBatch: number;
  /** Expected MD5 per file name, or `false` to skip verification. */
  checksums: Readonly<Record<string, string>> | false;
}

/**
 * The batch files of a folder that are missing or fail their MD5, all of them (not only the first),
 * so that a repair replaces exactly those and nothing else. `code` and the message start with the
 * first problem's.
 */
export class DamagedFolderError extends Cifar10Error {
  constructor(
    /** The folder read. */
    readonly dir: string,
    /** Each damaged or missing file: its name in `dir` and what is wrong with it. */
    readonly problems: readonly { name: string; error: Cifar10Error }[],
  ) {
    const [first, ...rest] = problems;
    super(
      first!.error.code,
      rest.length === 0
        ? first!.error.message
        : `${first!.error.message}; also ${rest.map((p) => p.error.message).join("; ")}`,
      { cause: first!.error.cause },
    );
  }

  /** The names of the damaged or missing files. */
  get files(): string[] {
    return this.problems.map((p) => p.name);
  }
}

async function readIfThere(dir: string, name: string): Promise<Uint8Array | null> {
  try {
    return await readFile(join(dir, name));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw cause;
  }
}

function newSplit(records: number): Cifar10Split {
  return {
    // Shared memory, so Cifar10Batches' worker thread reads the images without a 150 MB copy.
    images: new Uint8Array(new SharedArrayBuffer(records * CIFAR10_IMAGE_BYTES)),
    labels: new Uint8Array(records),
    length: records,
  };
}

/** The batch file names of a folder of the given layout, training batches first. */
export function batchFileNames(format: FolderFormat): string[] {
  const ext = format === "bin" ? ".bin" : "";
  return [...TRAIN_BATCHES, TEST_BATCH].map((b) => b + ext);
}

/**
 * Reads `cifar-10-batches-bin/` or `cifar-10-batches-py/`, verifying every batch file (its MD5 is
 * computed on every call). Throws `DamagedFolderError` listing every missing or mismatching file.
 */
export async function readFolder(
  dir: string,
  format: FolderFormat,
  options: ReadFolderOptions,
): Promise<Cifar10> {
  const names = batchFileNames(format);
  const folder = basename(dir);
  const checksums = options.checksums;
  const files: Uint8Array[] = [];
  const problems: { name: string; error: Cifar10Error }[] = [];
  // One file at a time, so the problems come in a stable order and memory peaks at the data.
  for (const name of names) {
    const bytes = await readIfThere(dir, name);
    if (bytes === null) {
      problems.push({
        name,
        error: new Cifar10Error(
          "missing_file",
          `${join(dir, name)}: missing; expected the folder to hold ${names.join(", ")}`,
        ),
      });
      continue;
    }
    const expected = checksums ? checksums[name] : undefined;
    const mismatch = expected ? checksumProblem(`${folder}/${name}`, bytes, expected) : null;
    if (mismatch) problems.push({ name, error: mismatch });
    files.push(bytes);
  }
  if (problems.length > 0) throw new DamagedFolderError(dir, problems);
  const n = options.recordsPerBatch;
  const train = newSplit(TRAIN_BATCHES.length * n);
  const test = newSplit(n);
  const decode = format === "bin" ? decodeBinBatch : decodePyBatch;
  for (const [i, name] of names.entries()) {
    const isTest = i === names.length - 1;
    decode(
      files[i]!,
      `${folder}/${name}`,
      n,
      isTest ? test.images : train.images,
      isTest ? test.labels : train.labels,
      isTest ? 0 : i * n,
    );
  }
  const classNames = await readClassNames(dir, format, checksums);
  return { train, test, classNames };
}

async function readClassNames(
  dir: string,
  format: FolderFormat,
  checksums: Readonly<Record<string, string>> | false,
): Promise<string[]> {
  const name = format === "bin" ? "batches.meta.txt" : "batches.meta";
  let bytes: Uint8Array;
  try {
    bytes = await readFile(join(dir, name));
  } catch {
    // The names are fixed; a folder without its meta file is still the dataset.
    return [...CIFAR10_CLASS_NAMES];
  }
  if (format === "py") {
    const expected = checksums ? checksums[name] : undefined;
    const mismatch = expected ? checksumProblem(`${basename(dir)}/${name}`, bytes, expected) : null;
    if (mismatch) throw new DamagedFolderError(dir, [{ name, error: mismatch }]);
    return decodePyMeta(bytes, `${basename(dir)}/${name}`);
  }
  const names = new TextDecoder()
    .decode(bytes)
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== 10) {
    throw new Cifar10Error(
      "bad_meta",
      `${basename(dir)}/${name}: expected 10 class names, one a line, got ${names.length}`,
    );
  }
  return names;
}

/** Which layout a folder has, if any: looks for `data_batch_1.bin` or `data_batch_1`. */
export async function detectFormat(dir: string): Promise<FolderFormat | null> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return null;
  }
  if (entries.includes("data_batch_1.bin") || entries.includes("test_batch.bin")) return "bin";
  if (entries.includes("data_batch_1") || entries.includes("test_batch")) return "py";
  return null;
}

export const OFFICIAL_CHECKSUMS: Record<FolderFormat, Readonly<Record<string, string>>> = {
  bin: BIN_MD5,
  py: PY_MD5,
};
