import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deadPid, exited, holdRunLock as holder } from "../test/lock-holder.js";
import { LOCK_FILE, lockRunDir } from "./run-lock.js";

async function tempRun(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), "cnnkit-lock-")), "run");
}

describe("the run folder lock", () => {
  it("lets one of two concurrent takers in and names the holder to the other", async () => {
    const dir = await tempRun();
    const results = await Promise.allSettled([lockRunDir(dir, "train"), lockRunDir(dir, "train")]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({
      code: "run_locked",
      message: expect.stringContaining(`${dir} is in use by another cnnkit-train (this process`),
    });
    const lock = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof lockRunDir>>>).value;
    expect(JSON.parse(await readFile(join(dir, LOCK_FILE), "utf8"))).toMatchObject({
      pid: process.pid,
      host: hostname(),
      command: "train",
      startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
    // Released: the next taker gets it.
    await (await lockRunDir(dir, "resume")).release();
  });

  it("refuses while another live process holds it, and is free once that process exits", async () => {
    const dir = await tempRun();
    const { child, pid } = await holder(dir);
    await expect(lockRunDir(dir, "resume")).rejects.toMatchObject({
      code: "run_locked",
      message: expect.stringMatching(
        new RegExp(`^${dir} is in use by another cnnkit-train \\(pid ${pid} on .*kill ${pid}`),
      ),
    });
    child.stdin!.end();
    expect(await exited(child)).toBe(0);
    expect(await readdir(dir)).toEqual([]);
    await (await lockRunDir(dir, "train")).release();
  });

  it("is released when its process dies of SIGTERM, and taken over after a SIGKILL", async () => {
    const dir = await tempRun();
    const term = await holder(dir);
    term.child.kill("SIGTERM");
    expect(await exited(term.child)).toBe("SIGTERM");
    expect(await readdir(dir)).toEqual([]);

    const killed = await holder(dir);
    killed.child.kill("SIGKILL");
    await exited(killed.child);
    // Left behind, naming a process that is gone: the next run takes it over.
    expect(await readdir(dir)).toEqual([LOCK_FILE]);
    const lock = await lockRunDir(dir, "resume");
    expect(lock.holder.pid).toBe(process.pid);
    await lock.release();
  });

  it("takes over a lock of a dead or reused pid, never one of another machine", async () => {
    const dir = await tempRun();
    await lockRunDir(dir, "train").then((l) => l.release());
    const path = join(dir, LOCK_FILE);
    const dead = deadPid();
    const base = { startedAt: "2026-01-01T00:00:00.000Z", command: "train", token: "x" };
    await writeFile(path, JSON.stringify({ ...base, pid: dead, host: hostname() }));
    await (await lockRunDir(dir, "train")).release();
    if (existsSync("/proc/self/stat")) {
      // A live pid that started at another time than the holder did is another process.
      await writeFile(
        path,
        JSON.stringify({ ...base, pid: process.pid, host: hostname(), processStart: "1" }),
      );
      await (await lockRunDir(dir, "train")).release();
    }
    await writeFile(path, JSON.stringify({ ...base, pid: dead, host: "elsewhere" }));
    await expect(lockRunDir(dir, "train")).rejects.toMatchObject({
      code: "run_locked",
      message: expect.stringContaining(`(pid ${dead} on elsewhere`),
    });
    expect(JSON.parse(await readFile(path, "utf8")).host).toBe("elsewhere");
  });
});
