// For the tests: another process holding a run folder's lock (hold-run-lock.ts), and a pid that
// no process has any more.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const appRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Starts a process that takes the lock of `dir`; resolves once it holds it. */
export async function holdRunLock(dir: string): Promise<{ child: ChildProcess; pid: number }> {
  const child = spawn(
    process.execPath,
    ["--conditions=@cnnkit/source", "--import", "tsx", "test/hold-run-lock.ts", dir],
    { cwd: appRoot, stdio: ["pipe", "pipe", "inherit"] },
  );
  const pid = await new Promise<number>((ok, fail) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += String(d);
      const m = /locked (\d+)/.exec(out);
      if (m) ok(Number(m[1]));
    });
    child.on("exit", (code) => fail(new Error(`the lock holder exited early (${code})`)));
  });
  return { child, pid };
}

/** Resolves with the exit code, or the signal that ended the process. */
export function exited(child: ChildProcess): Promise<number | string | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((ok) => child.once("exit", (code, signal) => ok(signal ?? code)));
}

/** A pid no process has any more: a child that has already exited. */
export function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "0"]).pid!;
}
