// What cnnkit-train promises about what it loads (README "What the app promises", verified on
// load): a checkpoint's or an export's weights altered on disk are refused by every command that
// loads them, naming the file, and damaged checkpoint files are one-line errors.
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodePNG } from "@cnnkit/viz";
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

/** Flips one byte in the middle: same size, other weights. */
async function tamper(path: string): Promise<void> {
  const bytes = await readFile(path);
  const at = Math.floor(bytes.byteLength / 2);
  bytes[at] = (bytes[at] as number) ^ 0x10;
  await writeFile(path, bytes);
}

async function trainedRun(): Promise<string> {
  const out = join(await mkdtemp(join(tmpdir(), "cnnkit-integrity-")), "run");
  const r = await run([...TINY, "--out", out]);
  expect(r.code, r.stderr).toBe(0);
  return out;
}

/** The one line a refused command prints: the file named, no stack trace. */
function expectOneLine(stderr: string, file: string, what: RegExp): void {
  expect(stderr.split("\n").filter(Boolean)).toHaveLength(1);
  expect(stderr.startsWith(`cnnkit-train: ${file}: `), stderr).toBe(true);
  expect(stderr).toMatch(what);
}

describe("a checkpoint's files are verified on every load", () => {
  it("records the SHA-256 of every file in state.json", async () => {
    const out = await trainedRun();
    const state = JSON.parse(await readFile(join(runPaths(out).last, "state.json"), "utf8"));
    expect(Object.keys(state.files).sort()).toEqual([
      "group1-shard1of1.bin",
      "model.json",
      "optimizer.bin",
      "optimizer.json",
    ]);
  });

  for (const file of ["group1-shard1of1.bin", "model.json", "optimizer.bin"]) {
    it(`--resume refuses checkpoints/last/${file} altered in place, naming it`, async () => {
      const out = await trainedRun();
      const path = join(runPaths(out).last, file);
      await tamper(path);
      const r = await run(["--resume", out]);
      expect(r.code).toBe(1);
      expectOneLine(
        r.stderr,
        path,
        /SHA-256 [0-9a-f]{64} differs from the [0-9a-f]{64} recorded in .*state\.json/,
      );
    });
  }

  it("eval and export refuse checkpoints/best with an altered shard, naming it", async () => {
    const out = await trainedRun();
    const path = join(runPaths(out).best, "group1-shard1of1.bin");
    await tamper(path);
    for (const argv of [
      ["eval", out],
      ["export", out],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(" ")).toBe(1);
      expectOneLine(r.stderr, path, /SHA-256 .* differs/);
    }
  });

  it("a truncated or empty state.json or optimizer.json is one line naming the file", async () => {
    const out = await trainedRun();
    const state = join(runPaths(out).last, "state.json");
    const text = await readFile(state, "utf8");
    await writeFile(state, text.slice(0, 100));
    let r = await run(["--resume", out]);
    expect(r.code).toBe(1);
    expectOneLine(
      r.stderr,
      state,
      /expected the JSON of a cnnkit-trainer checkpoint, got 100 bytes that do not parse .*truncated\?/,
    );
    await writeFile(state, "");
    r = await run(["--resume", out]);
    expectOneLine(r.stderr, state, /got an empty file/);
    await writeFile(state, text);
    const optimizer = join(runPaths(out).last, "optimizer.json");
    // Damaged, and its digest re-recorded: the JSON itself must still be checked.
    const json = await readFile(optimizer, "utf8");
    await writeFile(optimizer, json.slice(0, 50));
    const parsed = JSON.parse(text);
    const { createHash } = await import("node:crypto");
    parsed.files["optimizer.json"] = createHash("sha256").update(json.slice(0, 50)).digest("hex");
    await writeFile(state, JSON.stringify(parsed));
    r = await run(["--resume", out]);
    expect(r.code).toBe(1);
    expectOneLine(
      r.stderr,
      optimizer,
      /expected the JSON of @cnnkit\/optim state, got 50 bytes that do not parse/,
    );
  });
});

describe("an export's files are verified on every load", () => {
  it("eval EXPORT_DIR and predict refuse an export whose shard was altered, naming it", {
    timeout: 120_000,
  }, async () => {
    const out = await trainedRun();
    const e = await run(["export", out]);
    expect(e.code, e.stderr).toBe(0);
    const exportDir = runPaths(out).export;
    const image = join(out, "cat.png");
    await writeFile(
      image,
      encodePNG({ width: 32, height: 32, data: data.test.images.subarray(0, 3072), channels: 3 }),
    );
    const ok = await run(["predict", exportDir, image, "--backend", "cpu"]);
    expect(ok.code, ok.stderr).toBe(0);
    const shard = join(exportDir, "group1-shard1of1.bin");
    await tamper(shard);
    for (const argv of [
      ["eval", exportDir, ...TINY],
      ["predict", exportDir, image, "--backend", "cpu"],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(" ")).toBe(1);
      expectOneLine(r.stderr, shard, /SHA-256 .* differs from the .* recorded in manifest\.json/);
    }
  });
});
