// Bad input the user can act on is one line naming the option or file, never a stack trace
// (README "What the app promises", exit codes), and flags a command would ignore are refused.
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type CliIO, main } from "./cli.js";
import { runPaths } from "./run-dir.js";
import { syntheticData, useCpu } from "./test-helpers.js";

beforeAll(useCpu);

const data = syntheticData(16, 8);
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
  return mkdtemp(join(tmpdir(), "cnnkit-clear-"));
}

describe("bad options are one line, exit 2", () => {
  it("names an unknown --model", async () => {
    const r = await run(["--model", "vgg16"]);
    expect(r).toMatchObject({ code: 2, stdout: "" });
    expect(r.stderr).toMatch(/^cnnkit-train: model: expected one of .*, got "vgg16"\n$/);
  });

  it("names a dataDir, dataUrl or out that is not a string, and an export that is not a boolean", async () => {
    const dir = await tempDir();
    for (const [key, value] of [
      ["dataDir", 5],
      ["dataUrl", ["a"]],
      ["out", ""],
      ["export", "no"],
    ] as const) {
      const file = join(dir, `${key}.json`);
      await writeFile(file, JSON.stringify({ [key]: value }));
      const r = await run(["--config", file]);
      expect(r.code, key).toBe(2);
      expect(r.stderr).toBe(
        `cnnkit-train: ${key}: expected ${key === "export" ? "true or false" : "a path (a non-empty string) or null"}, got ${JSON.stringify(value)}\n`,
      );
    }
  });
});

describe("flags a command would ignore are refused", () => {
  it("--resume with recipe flags or --out: one line naming them, nothing touched", async () => {
    const out = join(await tempDir(), "run");
    expect((await run([...TINY, "--out", out])).code).toBe(0);
    const before = await readFile(runPaths(out).metrics, "utf8");
    const listing = (await readdir(out)).sort();
    const r = await run([
      "--resume",
      out,
      "--max-lr",
      "1",
      "--out",
      "/elsewhere",
      "--backend",
      "cpu",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `cnnkit-train: --resume ${out} uses the run's saved config.json, so --max-lr, --out would be ignored: give only --backend, --replicas, --step-graph, --no-step-graph, --data-dir, --data-url, --no-export, --test-subset with it (a new run with --out takes another recipe)\n`,
    );
    expect(await readFile(runPaths(out).metrics, "utf8")).toBe(before);
    expect((await readdir(out)).sort()).toEqual(listing);
    const preset = await run(["--resume", out, "--preset", "cpu"]);
    expect(preset.stderr).toContain("so --preset would be ignored");
    for (const command of ["eval", "export"]) {
      const e = await run([command, out, "--epochs", "3"]);
      expect(e.code, command).toBe(2);
      expect(e.stderr).toContain(
        `${command} ${out} uses the run's saved config.json, so --epochs would be ignored`,
      );
    }
    // The environment flags still go through.
    expect((await run(["--resume", out, "--backend", "cpu", "--replicas", "1"])).code).toBe(0);
  });
});
