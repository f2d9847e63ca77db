// Reading an extracted dataset folder (binary or pickled) into one Cifar10 object.
import { readdir, readFile, realpath } from "node:fs/promises";
import { basename, join } from "node:path";
import type { VerifiedFiles } from "./checksum.js";
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
  verified: VerifiedFiles;
}

async function readRequired(dir: string, name: string, all: string[]): Promise<Uint8Array> {
  try {
    return await readFile(join(dir, name));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Cifar10Error(
        "missing_file",
        `${join(dir, name)}: missing; expected the folder to hold ${all.join(", ")}`,
        { cause },
      );
    }
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

/** Reads `cifar-10-batches-bin/` or `cifar-10-batches-py/`, verifying every batch file. */
export async function readFolder(
  dir: string,
  format: FolderFormat,
  options: ReadFolderOptions,
): Promise<Cifar10> {
  const ext = format === "bin" ? ".bin" : "";
  const names = [...TRAIN_BATCHES, TEST_BATCH].map((b) => b + ext);
  const files = await Promise.all(names.map((n) => readRequired(dir, n, names)));
  const n = options.recordsPerBatch;
  const train = newSplit(TRAIN_BATCHES.length * n);
  const test = newSplit(n);
  const decode = format === "bin" ? decodeBinBatch : decodePyBatch;
  const folder = basename(dir);
  const checksums = options.checksums;
  for (const [i, name] of names.entries()) {
    const bytes = files[i]!;
    const shown = `${folder}/${name}`;
    if (checksums) {
      const expected = checksums[name];
      if (expected) {
        await options.verified.verify(await realpath(join(dir, name)), shown, bytes, expected);
      }
    }
    const isTest = i === names.length - 1;
    decode(
      bytes,
      shown,
      n,
      isTest ? test.images : train.images,
      isTest ? test.labels : train.labels,
      isTest ? 0 : i * n,
    );
  }
  const classNames = await readClassNames(dir, format, checksums, options.verified);
  await options.verified.save();
  return { train, test, classNames };
}

async function readClassNames(
  dir: string,
  format: FolderFormat,
  checksums: Readonly<Record<string, string>> | false,
  verified: VerifiedFiles,
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
    if (expected) {
      await verified.verify(
        await realpath(join(dir, name)),
        `${basename(dir)}/${name}`,
        bytes,
        expected,
      );
    }
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
