// The run directory's layout (one place for every name the issue fixes) and atomic writes, so a
// crash or Ctrl-C never leaves a half-written config, metrics file or checkpoint behind.
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { removeStaleExportTemps } from "@cnnkit/export";
import { makeDirs } from "@cnnkit/make-dirs";
import { TrainerError } from "./errors.js";
import { faultPoint } from "./fault-points.js";

/** Every path of a run directory. */
export interface RunPaths {
  root: string;
  config: string;
  metrics: string;
  tensorboard: string;
  checkpoints: string;
  best: string;
  last: string;
  export: string;
  report: string;
}

export function runPaths(root: string): RunPaths {
  const r = resolve(root);
  return {
    root: r,
    config: join(r, "config.json"),
    metrics: join(r, "metrics.json"),
    tensorboard: join(r, "tensorboard"),
    checkpoints: join(r, "checkpoints"),
    best: join(r, "checkpoints", "best"),
    last: join(r, "checkpoints", "last"),
    export: join(r, "export"),
    report: join(r, "report"),
  };
}

/** `runs/2026-11-30T01-02-03` (local-independent UTC, no colons: safe on every file system). */
export function defaultRunDir(now = new Date()): string {
  return join("runs", now.toISOString().slice(0, 19).replace(/:/g, "-"));
}

function tmpName(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`,
  );
}

const WRITE_FAILURES: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EACCES: "permission denied: the folder is read-only for this user",
  EPERM: "operation not permitted: the folder is read-only",
};

/**
 * A failed write of `path` as one line saying why (full disk, read-only folder) and that the
 * previous copy, if any, is intact; other errors are returned as they are.
 */
export function writeFailure(path: string, error: unknown): unknown {
  const why = writeFailureReason(error);
  if (!why) return error;
  return new TrainerError(
    "not_writable",
    `${path}: cannot write it: ${why}; the previous ${basename(path)}, if any, is intact`,
    { cause: error },
  );
}

/** "no space left on device (ENOSPC)", "read-only file system (EROFS)", …, or null for another error. */
export function writeFailureReason(error: unknown): string | null {
  const code = (error as NodeJS.ErrnoException)?.code;
  const why = code ? WRITE_FAILURES[code] : undefined;
  return why ? `${why} (${code})` : null;
}

/** Writes a file through a synced temporary sibling renamed into place. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await makeDirs(dirname(path)).catch((error) => {
    throw writeFailure(path, error);
  });
  const tmp = tmpName(path);
  try {
    const handle = await open(tmp, "w");
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true }).catch(() => {});
    throw writeFailure(path, error);
  }
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Fills a fresh directory with `write(tmpDir)` and swaps it in for `dir`. A directory cannot be
 * renamed over a non-empty one, so the old copy moves aside first and is removed last: at any
 * moment either `dir` or `dir.old` holds a complete copy (readers fall back to `.old`).
 */
export async function replaceDirAtomic(
  dir: string,
  write: (tmpDir: string) => Promise<void>,
): Promise<void> {
  const tmp = tmpName(dir);
  try {
    await makeDirs(dirname(dir));
    await mkdir(tmp);
    await write(tmp);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw writeFailure(dir, error);
  }
  const old = `${dir}.old`;
  await rm(old, { recursive: true, force: true });
  if (await exists(dir)) await rename(dir, old);
  await faultPoint(`swap ${basename(dir)}`);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}

/** `.<name>.tmp-<pid>-<hex>`: the temporaries of writeFileAtomic and replaceDirAtomic. */
const TEMPORARY = /^\..+\.tmp-(\d+)-[0-9a-f]{8}$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Cleans up after a process killed while writing the run folder (call it holding the folder's
 * lock): removes the app's temporaries (`.<name>.tmp-<pid>-<hex>` in the folder, `checkpoints/`,
 * `export/` and `report/`, and `.export.partial-*`) whose process is gone from this machine, and
 * puts back a checkpoint whose swap stopped half-way (`last.old` without `last`). Nothing whose
 * name the app does not give is touched. Returns what it removed or restored.
 */
export async function removeStaleTemporaries(root: string): Promise<string[]> {
  const paths = runPaths(root);
  const done: string[] = [];
  for (const dir of [paths.root, paths.checkpoints, paths.export, paths.report]) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const m = TEMPORARY.exec(name);
      if (!m || alive(Number(m[1]))) continue;
      await rm(join(dir, name), { recursive: true, force: true });
      done.push(join(dir, name));
    }
  }
  for (const dir of [paths.last, paths.best]) {
    const old = `${dir}.old`;
    if (!(await exists(dir)) && (await exists(join(old, "state.json")))) {
      await rename(old, dir);
      done.push(old);
    }
  }
  done.push(...(await removeStaleExportTemps(paths.export)));
  return done;
}

/** Whether the run folder holds a checkpoint to resume from (`checkpoints/last`, or its `.old` copy). */
export async function hasCheckpoint(root: string): Promise<boolean> {
  const { last } = runPaths(root);
  return (await exists(join(last, "state.json"))) || exists(join(`${last}.old`, "state.json"));
}
