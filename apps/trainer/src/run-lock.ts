// One process at a time writes a run folder: `.cnnkit-train.lock` names the holder (pid, host,
// start time, command). A lock whose process is gone on this machine is taken over; one of a live
// process (or of another machine, which cannot be checked) is refused with its holder named.
import { randomBytes } from "node:crypto";
import { readFileSync, unlinkSync } from "node:fs";
import { link, open, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { makeDirs } from "@cnnkit/make-dirs";
import { TrainerError } from "./errors.js";
import { writeFailureReason } from "./run-dir.js";

export const LOCK_FILE = ".cnnkit-train.lock";

/** What the lock file holds. */
export interface LockHolder {
  pid: number;
  host: string;
  /** When the lock was taken (ISO 8601). */
  startedAt: string;
  /** What holds it: `train`, `resume`, `export`, `eval`. */
  command: string;
  /** Linux: the holder's start time in clock ticks since boot, so a reused pid is not mistaken for it. */
  processStart: string | null;
  /** Tells this lock from a later one of the same process. */
  token: string;
}

export interface RunLock {
  /** The lock file. */
  path: string;
  holder: LockHolder;
  /** Removes the lock file if it is still this lock's. Idempotent. */
  release(): Promise<void>;
}

/** Field 22 of `/proc/<pid>/stat` (start time since boot); null where there is no /proc. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Why `holder` no longer holds its lock, or null when it may (it lives, or cannot be checked). */
function staleReason(holder: LockHolder | null): string | null {
  if (holder === null) return "an unreadable lock file";
  if (holder.host !== hostname()) return null;
  if (!Number.isInteger(holder.pid) || holder.pid <= 0 || !pidAlive(holder.pid)) {
    return `pid ${holder.pid} is gone`;
  }
  const now = processStart(holder.pid);
  if (holder.processStart && now && now !== holder.processStart) {
    return `pid ${holder.pid} is another process now`;
  }
  return null;
}

async function readHolder(path: string): Promise<LockHolder | null | "gone"> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    throw error;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h === "object" && h !== null && typeof h.pid === "number" ? h : null;
  } catch {
    return null;
  }
}

/**
 * Creates `path` holding `text` only if it does not exist, never visible half-written: the text
 * goes to a private file first, hard-linked into place (which fails if `path` exists).
 */
async function createExclusive(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(tmp, text, { flag: "wx" });
  try {
    await link(tmp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    // A file system without hard links: an exclusive create, then the text.
    if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "ENOSYS") {
      try {
        const handle = await open(path, "wx");
        try {
          await handle.writeFile(text);
        } finally {
          await handle.close();
        }
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw e;
      }
    }
    throw error;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/**
 * Removes the stale lock `holder` left, under a short-lived guard file so two processes taking
 * over the same stale lock cannot remove each other's new one.
 */
async function removeStale(path: string, holder: LockHolder | null): Promise<void> {
  const guard = `${path}.takeover`;
  for (let i = 0; i < 100; i++) {
    try {
      await writeFile(guard, String(process.pid), { flag: "wx" });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      // A guard is held for milliseconds; an old one was left by a process killed holding it.
      const age = await stat(guard).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > 10_000) await unlink(guard).catch(() => {});
      else await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    try {
      const now = await readHolder(path);
      if (now !== "gone" && (now?.token ?? null) === (holder?.token ?? null)) await unlink(path);
    } finally {
      await unlink(guard).catch(() => {});
    }
    return;
  }
}

function describeHolder(h: LockHolder): string {
  const who = h.pid === process.pid && h.host === hostname() ? "this process" : `pid ${h.pid}`;
  return `${who} on ${h.host}, \`${h.command}\` since ${h.startedAt}`;
}

// Every lock this process holds, released together on exit and on a fatal signal.
const held = new Map<string, LockHolder>();
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

function releaseAllSync(): void {
  for (const [path, holder] of held) {
    try {
      const now = JSON.parse(readFileSync(path, "utf8")) as LockHolder;
      if (now.token === holder.token) unlinkSync(path);
    } catch {
      // Gone already, or not ours any more.
    }
  }
  held.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // When something else handles the signal (the trainer's Ctrl-C: finish the step, save, exit),
  // it ends in process.exit and the exit hook releases. Alone, release and die of the signal
  // as if no handler had been installed.
  if (process.listenerCount(signal) > 1) return;
  releaseAllSync();
  uninstall();
  process.kill(process.pid, signal);
}

function install(): void {
  process.on("exit", releaseAllSync);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  process.off("exit", releaseAllSync);
  for (const s of SIGNALS) process.off(s, onSignal);
}

/**
 * Takes the lock of run folder `dir` (created if needed) for `command`. Throws `run_locked`
 * naming the folder and the holder when another live process holds it; a lock left by a process
 * that died on this machine is taken over. Released by `release()`, and in any case when the
 * process exits or dies of SIGINT, SIGTERM or SIGHUP; after a SIGKILL the next taker finds it
 * stale.
 */
export async function lockRunDir(dir: string, command: string): Promise<RunLock> {
  const root = resolve(dir);
  await makeDirs(root).catch((cause) => {
    throw new TrainerError("not_writable", `${(cause as Error).message}; choose another --out`, {
      cause,
    });
  });
  const path = join(root, LOCK_FILE);
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    command,
    processStart: processStart(process.pid),
    token: randomBytes(8).toString("hex"),
  };
  const text = `${JSON.stringify(holder, null, 2)}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    const created = await createExclusive(path, text).catch((cause) => {
      const why = writeFailureReason(cause);
      if (!why) throw cause;
      throw new TrainerError(
        "not_writable",
        `${root}: cannot write in this folder: ${why}; choose another --out`,
        { cause },
      );
    });
    if (created) {
      if (held.size === 0) install();
      held.set(path, holder);
      let released = false;
      return {
        path,
        holder,
        release: async () => {
          if (released) return;
          released = true;
          held.delete(path);
          if (held.size === 0) uninstall();
          const now = await readHolder(path);
          if (now !== "gone" && now?.token === holder.token) await unlink(path).catch(() => {});
        },
      };
    }
    const current = await readHolder(path);
    if (current === "gone") continue;
    if (staleReason(current) === null && current !== null) {
      const remote = current.host !== hostname();
      throw new TrainerError(
        "run_locked",
        `${root} is in use by another cnnkit-train (${describeHolder(current)}); two runs in one folder would mix their files. ` +
          (remote
            ? `Wait for it to finish; if that process is gone, delete ${path}.`
            : `Wait for it to finish, or stop it (kill ${current.pid}).`),
      );
    }
    await removeStale(path, current);
  }
  throw new TrainerError(
    "run_locked",
    `${root}: could not take ${path}: other processes keep taking it`,
  );
}
