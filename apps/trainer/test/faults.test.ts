// The fault-injection suite (README "What the app promises"): real `cnnkit-train` processes on
// the smoke preset (shrunk, synthetic data, cpu backend) killed with SIGKILL, SIGINT and SIGTERM at
// seeded random moments, inside checkpoint writes and swaps and during the export, run on a full
// and on a read-only disk (an injected fs layer: test/fault-fs.ts), and given damaged files of
// every kind the app reads. After each: nothing lost — the previous checkpoint is intact and
// `--resume` finishes the run to the same bytes (weights, optimizer state, history) as a run
// never interrupted. The moments come from src/fault-points.ts (CNNKIT_TEST_FAULTS).
import { type ChildProcess, spawn } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli.js";
import { runPaths } from "../src/run-dir.js";
import { syntheticData, useCpu } from "../src/test-helpers.js";

const appRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The smoke preset shrunk to seconds: 32 synthetic images, batch 8, 2 epochs of 4 steps. */
const FLAGS = [
  "--preset",
  "smoke",
  "--widths",
  "4,8,16",
  "--batch-size",
  "8",
  "--epochs",
  "2",
  "--backend",
  "cpu",
  "--replicas",
  "1",
];
const NO_EXPORT = [...FLAGS, "--no-export"];
const STEPS = 8;

/** mulberry32: the kill points are random, and the same on every run of the suite. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seeded(24);
const pick = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

interface Cli {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr shows `marker` (a fault point: "cnnkit-test: step 3"). */
  reached(marker: string): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `cnnkit-train ARGS` in its own process (test/cli-child.ts), fault points on. */
function cli(
  args: string[],
  options: { env?: Record<string, string>; faultFs?: object; synthetic?: string } = {},
): Cli {
  const proc = spawn(
    process.execPath,
    [
      "--conditions=@cnnkit/source",
      "--import",
      "tsx",
      ...(options.faultFs ? ["--import", "./test/fault-fs.ts"] : []),
      "test/cli-child.ts",
      ...args,
    ],
    {
      cwd: appRoot,
      env: {
        ...process.env,
        CNNKIT_TEST_FAULTS: "1",
        CNNKIT_TEST_SYNTHETIC: options.synthetic ?? "32,8",
        ...(options.faultFs ? { CNNKIT_FAULT_FS: JSON.stringify(options.faultFs) } : {}),
        ...options.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  const waiting: { marker: string; ok: () => void }[] = [];
  proc.stdout!.on("data", (d) => {
    out += String(d);
  });
  proc.stderr!.on("data", (d) => {
    err += String(d);
    for (const w of waiting.splice(0)) {
      if (err.includes(`${w.marker}\n`)) w.ok();
      else waiting.push(w);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    proc.once("exit", (code, signal) => ok({ code, signal })),
  );
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    reached: (marker) =>
      new Promise<void>((ok, fail) => {
        if (err.includes(`${marker}\n`)) return ok();
        waiting.push({ marker, ok });
        exited.then(({ code }) =>
          fail(new Error(`exited (${code}) before "${marker}"; stderr:\n${err.slice(-2000)}`)),
        );
      }),
  };
}

async function finished(c: Cli): Promise<number | null> {
  const { code } = await c.exited;
  return code;
}

/** What a finished run must come to: its last checkpoint's bytes and its history. */
async function fingerprint(runDir: string) {
  const state = JSON.parse(await readFile(join(runPaths(runDir).last, "state.json"), "utf8"));
  const metrics = JSON.parse(await readFile(runPaths(runDir).metrics, "utf8"));
  const { files } = state as { files: Record<string, string> };
  return {
    status: metrics.status,
    globalStep: state.globalStep,
    weights: files["group1-shard1of1.bin"],
    optimizer: files["optimizer.bin"],
    history: (state.history as Record<string, number>[]).map(
      ({ seconds: _s, imagesPerSecond: _i, ...figures }) => figures,
    ),
  };
}

let root: string;
let reference: Awaited<ReturnType<typeof fingerprint>>;
const newRun = async (name: string) => join(await mkdtemp(join(root, `${name}-`)), "run");

/** Resumes `out` in a fresh process, checks it exits 0, and returns its fingerprint. */
async function resumeToEnd(out: string) {
  const r = cli(["--resume", out]);
  const code = await finished(r);
  expect(code, r.stderr()).toBe(0);
  expect(r.stderr()).not.toMatch(/\n\s+at /); // no stack trace
  return fingerprint(out);
}

/** The temporaries a killed process left are gone after the next command. */
async function noTemporaries(out: string) {
  const names = [
    ...(await readdir(out)),
    ...(await readdir(runPaths(out).checkpoints).catch(() => [] as string[])),
  ];
  expect(names.filter((n) => /\.tmp-|\.partial-|\.old/.test(n))).toEqual([]);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "cnnkit-faults-"));
  const out = join(root, "reference");
  const r = cli([...NO_EXPORT, "--out", out]);
  expect(await finished(r), r.stderr()).toBe(0);
  reference = await fingerprint(out);
  expect(reference.status).toBe("completed");
  expect(reference.globalStep).toBe(STEPS);
}, 60_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("killed at random moments, nothing is lost", { timeout: 120_000 }, () => {
  for (const [signal, point] of [
    ["SIGKILL", `step#${pick(1, STEPS)}`],
    ["SIGKILL", `checkpoint files written#${pick(1, 4)}`],
    ["SIGKILL", `swap last#${pick(1, 3)}`],
    ["SIGKILL", "swap best#1"],
    ["SIGINT", `step#${pick(1, STEPS - 1)}`],
    ["SIGTERM", `step#${pick(1, STEPS - 1)}`],
    ["SIGINT", `swap last#${pick(2, 3)}`],
    ["SIGTERM", `checkpoint files written#${pick(2, 4)}`],
  ] as const) {
    it(`${signal} at "${point}": the run resumes to the same bytes`, async () => {
      const out = await newRun("kill");
      const c = cli([...NO_EXPORT, "--out", out], {
        env: { CNNKIT_TEST_PAUSE_AT: point, CNNKIT_TEST_PAUSE_MS: "3000" },
      });
      const [name, n] = point.split("#");
      await c.reached(`cnnkit-test: ${name} ${n}`);
      c.proc.kill(signal);
      const { code, signal: died } = await c.exited;
      if (signal === "SIGKILL") {
        expect(died).toBe("SIGKILL");
      } else {
        // A clean stop: the step or the save under way finishes, a checkpoint is written.
        expect(code, c.stderr()).toBe(signal === "SIGINT" ? 130 : 143);
        expect(c.stdout()).toMatch(/interrupted: /);
        const status = JSON.parse(await readFile(runPaths(out).metrics, "utf8")).status;
        expect(["interrupted", "completed"]).toContain(status);
        expect(c.stderr()).not.toMatch(/\n\s+at /);
      }
      expect(await resumeToEnd(out)).toEqual(reference);
      await noTemporaries(out);
    });
  }

  it("a second SIGINT quits at once with 130; the run still resumes to the same bytes", async () => {
    const out = await newRun("twice");
    const point = `step#${pick(2, STEPS - 1)}`;
    const c = cli([...NO_EXPORT, "--out", out], {
      env: { CNNKIT_TEST_PAUSE_AT: point, CNNKIT_TEST_PAUSE_MS: "5000" },
    });
    await c.reached(`cnnkit-test: step ${point.split("#")[1]}`);
    c.proc.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    c.proc.kill("SIGINT");
    expect(await finished(c)).toBe(130);
    expect(await resumeToEnd(out)).toEqual(reference);
  });

  it("Ctrl-C while the steps run (no pause) stops within a step, in the last epoch too", async () => {
    // One epoch of 16 steps: without a yield to the event loop after each step, the handler ran
    // only after the epoch, which here is the last: the run completed and exited 0.
    const out = await newRun("busy");
    const c = cli(
      ["--preset", "smoke", "--widths", "8,16,32", "--batch-size", "8", "--epochs", "1"].concat([
        "--backend",
        "cpu",
        "--replicas",
        "1",
        "--no-export",
        "--out",
        out,
      ]),
      { synthetic: "128,8" },
    );
    await c.reached("cnnkit-test: step 2");
    c.proc.kill("SIGINT");
    expect(await finished(c), c.stderr()).toBe(130);
    const state = JSON.parse(await readFile(join(runPaths(out).last, "state.json"), "utf8"));
    expect(state.epoch).toBe(0);
    expect(state.step).toBeGreaterThanOrEqual(2);
    expect(state.step).toBeLessThan(16);
    expect(JSON.parse(await readFile(runPaths(out).metrics, "utf8")).status).toBe("interrupted");
  });
});

describe("killed during the export", { timeout: 180_000 }, () => {
  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    it(`${signal} at a random moment of the export: checkpoints intact, the export whole or absent, export again works`, async () => {
      const out = await newRun("export");
      const first = cli([...NO_EXPORT, "--out", out]);
      expect(await finished(first)).toBe(0);
      const before = await fingerprint(out);
      const c = cli(["export", out]);
      await c.reached("cnnkit-test: export 1");
      await new Promise((r) => setTimeout(r, pick(0, 2500)));
      c.proc.kill(signal);
      const { code } = await c.exited;
      if (signal === "SIGTERM") expect([0, 1, 143, null]).toContain(code);
      expect(await fingerprint(out)).toEqual(before);
      const held = await readdir(runPaths(out).export).catch(() => null);
      if (held) expect(held).toContain("manifest.json");
      const again = cli(["export", out]);
      expect(await finished(again), again.stderr()).toBe(0);
      expect(again.stdout()).toContain("all artifacts within tolerance");
      expect(again.stdout()).toContain(`exported to ${runPaths(out).export}`);
      await noTemporaries(out);
    });
  }
});

describe("a full disk", { timeout: 120_000 }, () => {
  for (const [where, budget] of [
    ["checkpoints", pick(20_000, 60_000)],
    ["run", pick(0, 3_000)],
    ["run", pick(60_000, 120_000)],
  ] as const) {
    it(`ENOSPC after ${budget} bytes under ${where}/: one line naming the file, the last checkpoint intact, resumable to the same bytes`, async () => {
      const out = await newRun("enospc");
      const under = where === "run" ? out : runPaths(out).checkpoints;
      const c = cli([...NO_EXPORT, "--out", out], {
        faultFs: { code: "ENOSPC", under, afterBytes: budget },
      });
      const code = await finished(c);
      expect(code, c.stderr()).toBe(1);
      const lines = c
        .stderr()
        .split("\n")
        .filter((l) => l.startsWith("cnnkit-train:"));
      expect(lines, c.stderr()).toHaveLength(1);
      expect(lines[0]).toMatch(/no space left on device|ENOSPC/);
      expect(c.stderr()).not.toMatch(/\n\s+at /);
      expect(await resumeToEnd(out)).toEqual(reference);
      await noTemporaries(out);
    });
  }
});

describe("a read-only disk", { timeout: 60_000 }, () => {
  it("--resume of a run on a read-only disk: one line saying read-only, nothing changed", async () => {
    const out = await newRun("rofs");
    const c = cli([...NO_EXPORT, "--out", out], {
      env: { CNNKIT_TEST_PAUSE_AT: "step#5", CNNKIT_TEST_PAUSE_MS: "3000" },
    });
    await c.reached("cnnkit-test: step 5");
    c.proc.kill("SIGINT");
    expect(await finished(c)).toBe(130);
    const state = await readFile(join(runPaths(out).last, "state.json"), "utf8");
    const r = cli(["--resume", out], { faultFs: { code: "EROFS", under: out } });
    expect(await finished(r)).toBe(1);
    expect(r.stderr().trim()).toBe(
      `cnnkit-train: ${out}: cannot write in this folder: read-only file system (EROFS); choose another --out`,
    );
    expect(await readFile(join(runPaths(out).last, "state.json"), "utf8")).toBe(state);
    expect(await resumeToEnd(out)).toEqual(reference);
  });

  it("a --data-dir on a read-only disk holding the archive: one line saying so, the archive kept", async () => {
    const data = await mkdtemp(join(root, "ro-data-"));
    const archive = join(data, "cifar-10-binary.tar.gz");
    await writeFile(archive, "the user's archive");
    const r = cli([...NO_EXPORT, "--data-dir", data, "--out", await newRun("ro-data")], {
      faultFs: { code: "EROFS", under: data },
      synthetic: "none",
    });
    expect(await finished(r)).toBe(1);
    expect(r.stderr()).toContain(
      `cnnkit-train: CIFAR-10: ${data}: cannot extract CIFAR-10 into this cache folder: read-only file system (EROFS); give the archive itself (--data-dir ${archive}) or a writable --data-dir\n`,
    );
    expect(await readFile(archive, "utf8")).toBe("the user's archive");
  });

  it("--out in a read-only folder, or under /proc: one line, at once", async () => {
    const parent = await mkdtemp(join(root, "ro-"));
    const r = cli([...NO_EXPORT, "--out", join(parent, "a", "run")], {
      faultFs: { code: "EROFS", under: parent },
    });
    expect(await finished(r)).toBe(1);
    expect(r.stderr()).toContain(
      `cnnkit-train: ${join(parent, "a")}: cannot create this folder: read-only file system (EROFS); choose another --out\n`,
    );
    const proc = cli([...NO_EXPORT, "--out", "/proc/cnnkit-faults/run"]);
    expect(await finished(proc)).toBe(1);
    expect(proc.stderr()).toContain(
      "cnnkit-train: /proc/cnnkit-faults: cannot create this folder: this file system does not allow creating folders here (/proc or /sys?) (ENOENT); choose another --out\n",
    );
  });
});

describe("damaged files of every kind the app reads", { timeout: 120_000 }, () => {
  // In this process (the same CLI code, faster): each file of a completed run's folder damaged
  // in turn. The command refuses in one line naming the file, or does not need it; then, the
  // file restored, the run is intact.
  const data = syntheticData(32, 8);
  let run: string;
  beforeAll(async () => {
    await useCpu();
    run = join(root, "damaged");
    await cp(join(root, "reference"), run, { recursive: true });
  });
  async function inProcess(argv: string[]) {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await main(argv, {
      stdout: { write: (s: string) => stdout.push(s) },
      stderr: { write: (s: string) => stderr.push(s) },
      data,
    });
    return { code, stdout: stdout.join(""), stderr: stderr.join("") };
  }
  const flip = (b: Buffer) => {
    const c = Buffer.from(b);
    c[c.length >> 1] = (c[c.length >> 1] as number) ^ 0x20;
    return c;
  };
  const truncate = (b: Buffer) => b.subarray(0, b.length >> 1);
  for (const [file, damage, command, expected] of [
    [
      "config.json",
      truncate,
      "--resume",
      /config\.json: expected the config\.json of a cnnkit-train run/,
    ],
    [
      "checkpoints/last/state.json",
      truncate,
      "--resume",
      /state\.json: expected the JSON of a cnnkit-trainer checkpoint/,
    ],
    ["checkpoints/last/model.json", flip, "--resume", /model\.json: SHA-256 .* differs/],
    [
      "checkpoints/last/group1-shard1of1.bin",
      flip,
      "--resume",
      /group1-shard1of1\.bin: SHA-256 .* differs/,
    ],
    [
      "checkpoints/last/group1-shard1of1.bin",
      truncate,
      "--resume",
      /group1-shard1of1\.bin: SHA-256 .* differs/,
    ],
    [
      "checkpoints/last/optimizer.json",
      truncate,
      "--resume",
      /optimizer\.json: SHA-256 .* differs/,
    ],
    ["checkpoints/last/optimizer.bin", flip, "--resume", /optimizer\.bin: SHA-256 .* differs/],
    [
      "checkpoints/best/group1-shard1of1.bin",
      flip,
      "eval",
      /best\/group1-shard1of1\.bin: SHA-256 .* differs/,
    ],
    ["checkpoints/best/state.json", truncate, "export", /best\/state\.json: expected the JSON/],
    [".cnnkit-train.lock", () => Buffer.from("{ not json"), "--resume", null],
    ["metrics.json", truncate, "--resume", null],
  ] as const) {
    it(`${file} ${damage === flip ? "altered" : damage === truncate ? "truncated" : "garbage"}: ${command} ${expected ? "refuses naming it" : "does not need it"}; restored, nothing lost`, async () => {
      const path = join(run, file);
      const original = await readFile(path).catch(() => null);
      await writeFile(path, damage(original ?? Buffer.from("")));
      const r = await inProcess([command, run]);
      if (expected) {
        expect(r.code, r.stdout).toBe(1);
        expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
        expect(r.stderr).toContain(path);
        expect(r.stderr).toMatch(expected);
      } else {
        expect(r.code, r.stderr).toBe(0);
      }
      if (original) await writeFile(path, original);
      else await rm(path, { force: true });
      expect((await inProcess(["--resume", run])).code).toBe(0);
      expect(await fingerprint(run)).toEqual(reference);
    });
  }
});
