// The Node event sink: one `events.out.tfevents.*` file in a log directory, appended with
// synchronous writes so queued records can still be saved from a process `exit` handler.
import type * as Fs from "node:fs";
import type * as Os from "node:os";
import type * as Path from "node:path";
import { TensorBoardError } from "./errors.js";
import type { EventSink } from "./event-sink.js";
import { nodeBuiltin } from "./node-builtins.js";

let fileCounter = 0;

/** Options of `FileSink`. */
export interface FileSinkOptions {
  /** Appended to the file name, e.g. `".v2"`. Defaults to `""`. */
  filenameSuffix?: string;
  /** Milliseconds since the epoch used in the file name. Defaults to `Date.now()`. */
  timeMs?: number;
}

/**
 * `mkdir -p`, one level at a time. Node's recursive mkdir spins at 100% CPU for ever where a
 * folder exists but creating a child in it answers ENOENT (procfs: a logdir under /proc).
 */
function makeDirsSync(fs: typeof Fs, path: typeof Path, dir: string): void {
  const missing: string[] = [];
  for (let at = path.resolve(dir); ; ) {
    try {
      if (fs.statSync(at).isDirectory()) break;
      const e: NodeJS.ErrnoException = new Error(`ENOTDIR: ${at} is a file, not a folder`);
      e.code = "ENOTDIR";
      throw e;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    missing.push(at);
    const up = path.dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const folder of missing.reverse()) {
    try {
      fs.mkdirSync(folder);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST") continue;
      const why =
        code === "ENOENT"
          ? "this file system does not allow creating folders here (/proc or /sys?)"
          : code === "EROFS" || code === "EACCES" || code === "EPERM"
            ? "the folder above it is read-only"
            : (error as Error).message;
      throw new Error(`cannot create ${folder}: ${why} (${code})`, { cause: error });
    }
  }
}

/** Appends records to a new `events.out.tfevents.<secs>.<host>.<pid>.<n>` file in `logdir`. */
export class FileSink implements EventSink {
  /** The event file's path. */
  readonly name: string;
  readonly #fs: typeof Fs;
  #fd: number | null;

  constructor(logdir: string, options: FileSinkOptions = {}) {
    const fs = nodeBuiltin<typeof Fs>("node:fs", "FileSink");
    const os = nodeBuiltin<typeof Os>("node:os", "FileSink");
    const path = nodeBuiltin<typeof Path>("node:path", "FileSink");
    this.#fs = fs;
    const secs = Math.floor((options.timeMs ?? Date.now()) / 1000);
    // TensorBoard finds files by the "tfevents" in the name and orders a run's files by name,
    // hence the zero-padded seconds first; pid and counter keep two writers apart.
    const host = os.hostname().replace(/[^A-Za-z0-9._-]/g, "_");
    fileCounter += 1;
    const base = `events.out.tfevents.${String(secs).padStart(10, "0")}.${host}.${process.pid}.${fileCounter}${options.filenameSuffix ?? ""}`;
    this.name = path.join(logdir, base);
    try {
      makeDirsSync(fs, path, logdir);
      // "wx": never append to (and so never corrupt) a file another writer owns.
      this.#fd = fs.openSync(this.name, "wx");
    } catch (cause) {
      throw new TensorBoardError(
        "logdir_unwritable",
        `${this.name}: expected to create a new event file in ${logdir}, got ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  write(chunk: Uint8Array): void {
    if (this.#fd === null) {
      throw new TensorBoardError(
        "closed",
        `${this.name}: expected an open file, got a closed sink`,
      );
    }
    let done = 0;
    while (done < chunk.length) {
      done += this.#fs.writeSync(this.#fd, chunk, done, chunk.length - done);
    }
  }

  close(): void {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    try {
      this.#fs.fsyncSync(fd);
    } finally {
      this.#fs.closeSync(fd);
    }
  }
}
