// What cnnkit-train promises about a run folder (README "What the app promises"), through the
// CLI on synthetic data: one writer at a time, nothing it did not write deleted, no folder left
// wedged by a kill, and what a killed process left cleaned up.
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { deadPid, exited, holdRunLock } from "../test/lock-holder.js";
import { type CliIO, main } from "./cli.js";
import { resolveConfig } from "./config.js";
import { runPaths, writeJsonAtomic } from "./run-dir.js";
import { LOCK_FILE } from "./run-lock.js";
import { syntheticData, useCpu } from "./test-helpers.js";

beforeAll(useCpu);

const data = syntheticData(16, 8);
/** The smoke preset shrunk to seconds on the cpu backend: one epoch of 2 steps, no export. */
const TINY = [
  "--preset",
  "smoke",
  "--widths",
  "4,8,16",
  "--batch-size",
  "8",
  "--epochs",
  "1",
  "--backend",
  "cpu",
  "--replicas",
  "1",
  "--no-export",
];

async function run(argv: string[], extra: Partial<CliIO> = {}) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, {
    stdout: { write: (s: string) => stdout.push(s) },
    stderr: { write: (s: string) => stderr.push(s) },
    data,
    ...extra,
  });
  return { code, stdout: stdout.join(""), stderr: stderr.join("") };
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "cnnkit-run-folder-"));
}

describe("one writer per run folder", () => {
  it("refuses a run or --resume while another process holds the folder, naming it and the pid", async () => {
    const out = join(await tempDir(), "run");
    expect((await run([...TINY, "--out", out])).code).toBe(0);
    const { child, pid } = await holdRunLock(out);
    try {
      const before = (await readdir(out)).sort();
      for (const argv of [
        ["--resume", out],
        [...TINY, "--out", out],
        ["export", out],
      ]) {
        const r = await run(argv);
        expect(r.code, argv.join(" ")).toBe(1);
        expect(r.stderr).toMatch(
          new RegExp(`^cnnkit-train: ${out} is in use by another cnnkit-train \\(pid ${pid} on `),
        );
      }
      expect((await readdir(out)).sort()).toEqual(before);
    } finally {
      child.stdin!.end();
      await exited(child);
    }
    // Free again: the run continues (it is complete, so nothing to do but the report).
    expect((await run(["--resume", out])).code).toBe(0);
    expect(await readdir(out)).not.toContain(LOCK_FILE);
  });

  it("lets only one of two runs started together on one --out train there", async () => {
    const out = join(await tempDir(), "run");
    const [a, b] = await Promise.all([
      run([...TINY, "--out", out]),
      run([...TINY, "--out", out, "--seed", "7"]),
    ]);
    expect([a.code, b.code].sort()).toEqual([0, 1]);
    const loser = a.code === 1 ? a : b;
    expect(loser.stderr).toContain(`${out} is in use by another cnnkit-train (this process`);
    const winnerSeed = a.code === 0 ? 0 : 7;
    expect(JSON.parse(await readFile(runPaths(out).config, "utf8")).seed).toBe(winnerSeed);
    expect(await readdir(out)).not.toContain(LOCK_FILE);
  });
});

describe("a run killed before its first checkpoint", () => {
  /**
   * The folder such a kill leaves: the config.json train() writes first, TensorBoard's folder,
   * and the temporary of the first checkpoint (its process gone).
   */
  async function wedged(): Promise<string> {
    const out = join(await tempDir(), "run");
    const config = resolveConfig("smoke", {
      widths: [4, 8, 16],
      batchSize: 8,
      epochs: 1,
      backend: "cpu",
      replicas: 1,
      export: false,
      out,
    });
    await writeJsonAtomic(runPaths(out).config, config);
    await mkdir(runPaths(out).tensorboard, { recursive: true });
    const tmp = join(runPaths(out).checkpoints, `.last.tmp-${deadPid()}-0badc0de`);
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, "model.json"), "{");
    return out;
  }

  it("--resume starts it from the beginning with its saved config, saying so", async () => {
    const out = await wedged();
    const saved = await readFile(runPaths(out).config, "utf8");
    const r = await run(["--resume", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `${out}: the run stopped before its first checkpoint (config.json, no checkpoints/last); starting it from the beginning with its saved config.json`,
    );
    expect(r.stdout).toContain(`cleaned up after a process killed while writing ${out}:`);
    expect(JSON.parse(await readFile(runPaths(out).config, "utf8"))).toEqual(JSON.parse(saved));
    expect(JSON.parse(await readFile(runPaths(out).metrics, "utf8")).status).toBe("completed");
    expect((await readdir(runPaths(out).checkpoints)).sort()).toEqual(["best", "last"]);
  });

  it("a new run may take the folder, with another config, saying so", async () => {
    const out = await wedged();
    const r = await run([...TINY, "--out", out, "--seed", "5"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `${out}: holds a run that stopped before its first checkpoint (config.json, no checkpoints/last); starting this run there in its place`,
    );
    expect(JSON.parse(await readFile(runPaths(out).config, "utf8")).seed).toBe(5);
    // A folder whose run has a checkpoint is still refused to a new run.
    const again = await run([...TINY, "--out", out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      `${out} already holds a run (config.json); continue it with --resume`,
    );
  });

  it("a config.json that is not a run's is left alone", async () => {
    const out = join(await tempDir(), "run");
    await mkdir(out);
    await writeFile(runPaths(out).config, '{"mine": true}');
    const r = await run([...TINY, "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `${runPaths(out).config}: the folder holds a config.json that is not a cnnkit-train run's`,
    );
    expect(await readFile(runPaths(out).config, "utf8")).toBe('{"mine": true}');
  });
});

describe("nothing the app did not write is deleted", () => {
  it("refuses before training when --out holds an export/ with files the app did not write", async () => {
    const out = join(await tempDir(), "run");
    await mkdir(join(out, "export"), { recursive: true });
    await writeFile(join(out, "export", "notes.txt"), "my notes");
    const withExport = TINY.filter((f) => f !== "--no-export");
    const r = await run([...withExport, "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `cnnkit-train: ${join(out, "export")}: will not replace this folder with an export: it is not an export written by @cnnkit/export (no manifest.json listing its files) and holds notes.txt. Move those files away or export elsewhere; nothing was changed (or run with --no-export)\n`,
    );
    expect(await readFile(join(out, "export", "notes.txt"), "utf8")).toBe("my notes");
    // Refused before anything was written.
    expect((await readdir(out)).sort()).toEqual(["export"]);
  });

  it("the export command refuses such an export/ too, before any work", async () => {
    const out = join(await tempDir(), "run");
    expect((await run([...TINY, "--out", out])).code).toBe(0);
    await mkdir(join(out, "export"));
    await writeFile(join(out, "export", "predictions.csv"), "mine");
    const r = await run(["export", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^cnnkit-train: ${join(out, "export")}: will not replace this folder with an export: .*holds predictions\\.csv\\. Move those files away or export elsewhere; nothing was changed\n$`,
      ),
    );
    expect(await readdir(join(out, "export"))).toEqual(["predictions.csv"]);
  });

  it("checkpoints without a config.json are not taken for a run to replace", async () => {
    const out = join(await tempDir(), "run");
    await mkdir(join(runPaths(out).last), { recursive: true });
    await writeFile(join(runPaths(out).last, "model.json"), "{}");
    const r = await run([...TINY, "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `${runPaths(out).checkpoints}: holds last but ${out} has no config.json`,
    );
    expect(await readdir(runPaths(out).last)).toEqual(["model.json"]);
  });

  it("cleans up only the temporaries its own killed processes left", async () => {
    const out = join(await tempDir(), "run");
    expect((await run([...TINY, "--out", out])).code).toBe(0);
    const dead = deadPid();
    const paths = runPaths(out);
    const stale = [
      join(out, `.metrics.json.tmp-${dead}-01234567`),
      join(paths.checkpoints, `.last.tmp-${dead}-89abcdef`),
      join(out, `.export.partial-${dead}-00c0ffee`),
    ];
    const kept = [
      join(out, ".metrics.json.tmp-notes"),
      join(paths.checkpoints, `.last.tmp-${process.pid}-89abcdef`),
      join(out, "my-notes.txt"),
    ];
    for (const p of [...stale, ...kept]) {
      if (p.includes("json") || p.endsWith(".txt")) await writeFile(p, "x");
      else await mkdir(p, { recursive: true });
    }
    const r = await run(["--resume", out]);
    expect(r.code, r.stderr).toBe(0);
    const left = [...(await readdir(out)), ...(await readdir(paths.checkpoints))];
    for (const p of stale) expect(left, p).not.toContain(p.split("/").at(-1));
    for (const p of kept) expect(left, p).toContain(p.split("/").at(-1));
  });
});
