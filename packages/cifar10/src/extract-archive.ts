// Streaming extraction of a CIFAR-10 archive with node-tar's parser, refusing any entry that
// could write outside the target folder.
import { createReadStream, createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname, join } from "node:path";
import { finished } from "node:stream/promises";
import { Parser, type ReadEntry } from "tar";
import { BIN_FOLDER, PY_FOLDER } from "./constants.js";
import { Cifar10Error } from "./errors.js";

const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);

/**
 * The most bytes one entry may declare: CIFAR-10's largest file is a pickled batch of 31,035,7xx
 * bytes (a .bin batch is 30,730,000). A larger one is not CIFAR-10, or a decompression bomb.
 */
export const MAX_ENTRY_BYTES = 32 * 1024 * 1024;
/** The most bytes all entries together may declare: six batches and the small files, with room. */
export const MAX_ARCHIVE_BYTES = 8 * MAX_ENTRY_BYTES;

export interface ExtractLimits {
  /** Defaults to {@link MAX_ENTRY_BYTES}. */
  maxEntryBytes?: number;
  /** Defaults to {@link MAX_ARCHIVE_BYTES}. */
  maxTotalBytes?: number;
}

/** Why an entry path is unsafe to extract, or null when it is a plain relative path. */
export function unsafeEntryReason(path: string, type: string): string | null {
  if (!FILE_TYPES.has(type) && type !== "Directory") {
    return `is a ${type}${type.endsWith("Link") ? " (links are refused)" : ""}`;
  }
  if (path.startsWith("/") || path.startsWith("\\") || /^[a-zA-Z]:/.test(path)) {
    return "is an absolute path";
  }
  if (path.split(/[\\/]+/).includes("..")) return "climbs out of the target with '..'";
  if (path.includes("\0")) return "contains a NUL byte";
  return null;
}

/**
 * Extracts the `cifar-10-batches-bin/` or `cifar-10-batches-py/` folder of `archive`
 * (`.tar.gz` or `.tar`) into `target` (an existing, empty folder) and returns the folder's
 * path. Other entries are skipped; an unsafe entry anywhere aborts the whole extraction.
 */
export async function extractArchive(
  archive: string,
  target: string,
  limits: ExtractLimits = {},
): Promise<string> {
  const maxEntry = limits.maxEntryBytes ?? MAX_ENTRY_BYTES;
  const maxTotal = limits.maxTotalBytes ?? MAX_ARCHIVE_BYTES;
  let declared = 0;
  const writes: Promise<void>[] = [];
  const streams: WriteStream[] = [];
  const seen = new Set<string>();
  const made = new Set<string>();
  let found: string | null = null;
  let refused: Cifar10Error | null = null;
  const parser = new Parser({ strict: true });

  parser.on("entry", (entry: ReadEntry) => {
    const path = entry.path.replace(/^(\.\/)+/, "");
    // Sizes come from the entry's header, before a byte of it is inflated or written: a small
    // archive declaring gigabytes (a decompression bomb) is refused at once.
    declared += entry.size ?? 0;
    const tooLarge =
      (entry.size ?? 0) > maxEntry
        ? `declares ${entry.size} bytes, more than the ${maxEntry} any CIFAR-10 file has`
        : declared > maxTotal
          ? `brings the archive to ${declared} bytes, more than the ${maxTotal} CIFAR-10 takes`
          : null;
    if (tooLarge && !refused) {
      refused = new Cifar10Error(
        "archive_too_large",
        `${archive}: refused entry ${JSON.stringify(entry.path)}: it ${tooLarge} (a decompression bomb, or not CIFAR-10); nothing more was extracted`,
      );
      parser.abort(refused);
    }
    const reason = unsafeEntryReason(path, entry.type);
    if (reason && !refused) {
      refused = new Cifar10Error(
        "unsafe_archive_entry",
        `${archive}: refused entry ${JSON.stringify(entry.path)}: it ${reason}; expected plain files under ${BIN_FOLDER}/`,
      );
      parser.abort(refused);
    }
    const top = path.split("/")[0] ?? "";
    if (top) seen.add(top + (path.includes("/") || entry.type === "Directory" ? "/" : ""));
    if (refused || !FILE_TYPES.has(entry.type) || (top !== BIN_FOLDER && top !== PY_FOLDER)) {
      entry.resume();
      return;
    }
    if (!found) found = top;
    const out = join(target, path);
    const dir = dirname(out);
    if (!made.has(dir)) {
      // Synchronous, and once per folder: the entry's bytes must have somewhere to go now.
      mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    const ws = createWriteStream(out);
    streams.push(ws);
    entry.pipe(ws);
    writes.push(finished(ws));
  });

  const done = new Promise<void>((resolve, reject) => {
    parser.on("error", reject);
    parser.on("abort", reject);
    parser.on("end", () => resolve());
  });
  const input = createReadStream(archive);
  input.on("error", (e) => parser.abort(e));
  input.pipe(parser as unknown as NodeJS.WritableStream);
  try {
    await done;
  } catch (cause) {
    // An aborted entry never ends its stream: close the files rather than wait for them.
    input.destroy();
    for (const ws of streams) ws.destroy();
    await Promise.allSettled(writes);
    if (refused) throw refused;
    throw new Cifar10Error(
      "bad_archive",
      `${archive}: could not read the archive (${(cause as Error).message}); expected a .tar.gz holding ${BIN_FOLDER}/ (truncated or corrupt download?)`,
      { cause },
    );
  }
  await Promise.all(writes);
  if (refused) throw refused;
  if (!found) {
    throw new Cifar10Error(
      "archive_missing_folder",
      `${archive}: expected a ${BIN_FOLDER}/ (or ${PY_FOLDER}/) folder, found ${seen.size ? [...seen].join(", ") : "no entries"}`,
    );
  }
  return join(target, found);
}
