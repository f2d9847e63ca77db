import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deadPid } from "../test/lock-holder.js";
import {
  defaultRunDir,
  hasCheckpoint,
  removeStaleTemporaries,
  replaceDirAtomic,
  runPaths,
  writeJsonAtomic,
} from "./run-dir.js";

describe("run directory", () => {
  it("names every artifact the issue fixes", () => {
    const p = runPaths("/tmp/run");
    expect(p).toEqual({
      root: "/tmp/run",
      config: "/tmp/run/config.json",
      metrics: "/tmp/run/metrics.json",
      tensorboard: "/tmp/run/tensorboard",
      checkpoints: "/tmp/run/checkpoints",
      best: "/tmp/run/checkpoints/best",
      last: "/tmp/run/checkpoints/last",
      export: "/tmp/run/export",
      report: "/tmp/run/report",
    });
    expect(defaultRunDir(new Date("2026-11-30T01:02:03.456Z"))).toBe("runs/2026-11-30T01-02-03");
  });

  it("writes JSON atomically, leaving no temporary file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cnnkit-rundir-"));
    await writeJsonAtomic(join(dir, "a", "m.json"), { x: 1 });
    await writeJsonAtomic(join(dir, "a", "m.json"), { x: 2 });
    expect(JSON.parse(await readFile(join(dir, "a", "m.json"), "utf8"))).toEqual({ x: 2 });
    expect(await readdir(join(dir, "a"))).toEqual(["m.json"]);
  });

  it("swaps a directory in whole, and keeps the old one when writing fails", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cnnkit-rundir-"));
    const target = join(dir, "last");
    await replaceDirAtomic(target, (tmp) => writeFile(join(tmp, "v"), "1"));
    await replaceDirAtomic(target, async (tmp) => {
      await writeFile(join(tmp, "v"), "2");
      await writeFile(join(tmp, "w"), "2");
    });
    expect((await readdir(target)).sort()).toEqual(["v", "w"]);
    await expect(
      replaceDirAtomic(target, async (tmp) => {
        await writeFile(join(tmp, "v"), "3");
        throw new Error("disk full");
      }),
    ).rejects.toThrow("disk full");
    expect(await readFile(join(target, "v"), "utf8")).toBe("2");
    expect(await readdir(dir)).toEqual(["last"]);
  });

  it("puts back a checkpoint whose swap a kill interrupted, and removes its dead temporary", async () => {
    const root = await mkdtemp(join(tmpdir(), "cnnkit-rundir-"));
    const paths = runPaths(root);
    // Killed between moving last/ aside and moving the new copy in.
    await mkdir(`${paths.last}.old`, { recursive: true });
    await writeFile(join(`${paths.last}.old`, "state.json"), "{}");
    const tmp = join(paths.checkpoints, `.last.tmp-${deadPid()}-0123abcd`);
    await mkdir(tmp);
    expect(await hasCheckpoint(root)).toBe(true);
    expect((await removeStaleTemporaries(root)).sort()).toEqual([`${paths.last}.old`, tmp].sort());
    expect(await readdir(paths.checkpoints)).toEqual(["last"]);
    expect(await readFile(join(paths.last, "state.json"), "utf8")).toBe("{}");
    expect(await removeStaleTemporaries(root)).toEqual([]);
  });
});
