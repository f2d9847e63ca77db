// `pnpm bench:accuracy` in apps/trainer: test accuracy against wall time for a preset, run as a
// user runs it (the built `cnnkit-train`, every phase counted: load, train, evaluate, report,
// export and its verification), and the same recipe in Debian's PyTorch in the same run
// (bench/torch_fast.py) when /usr/bin/python3 has torch, with the ratio of their times to the
// same accuracy.
//
//   node --import tsx bench/time-to-accuracy.ts [--preset cpu] [--data PATH] [--no-torch]
//        [--torch-only] [--out DIR] [-- extra cnnkit-train flags]
//
// With GLIBC_TUNABLES in the environment (@cnnkit/backends' glibcMallocAdvice) both runs get it,
// and the printed command line says so.
// Needs `pnpm build` first (it runs bin/cnnkit-train.js, as a user would). PyTorch runs the
// preset's widths, epochs, batch size and test-time augmentation with 2 threads; its eval
// points are its own plain and TTA evaluations after each epoch (their time counted).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PRESETS, type PresetName } from "../src/config.js";

const here = dirname(fileURLToPath(import.meta.url));
const { values: args, positionals: extra } = parseArgs({
  // `pnpm bench -- --flag` passes the "--" on: drop it, or parseArgs takes every flag as positional.
  args: process.argv.slice(2).filter((a, i) => i > 0 || a !== "--"),
  allowPositionals: true,
  options: {
    preset: { type: "string", default: "cpu" },
    data: {
      type: "string",
      default: resolve(here, "../../../../shared/datasets/cifar-10-binary.tar.gz"),
    },
    out: { type: "string" },
    "no-torch": { type: "boolean", default: false },
    "torch-only": { type: "boolean", default: false },
  },
});

const preset = PRESETS[args.preset as PresetName];
if (!preset) throw new Error(`--preset: expected one of ${Object.keys(PRESETS).join(", ")}`);

/** One evaluation: seconds since the start, accuracy (plain), accuracy with TTA if measured. */
interface Point {
  seconds: number;
  epoch: number;
  accuracy: number;
  tta: number | null;
}

interface Outcome {
  name: string;
  points: Point[];
  wallSeconds: number;
  note: string;
}

/** Spawns a command and calls `onLine(line, secondsSinceStart)` for each line of its output. */
function run(
  command: string,
  argv: string[],
  onLine: (line: string, seconds: number) => void,
  cwd?: string,
): Promise<{ code: number; seconds: number }> {
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;
  return new Promise((done, fail) => {
    const child = spawn(command, argv, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of [child.stdout, child.stderr]) {
      let buffer = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        buffer += chunk;
        const lines = buffer.split(/\r|\n/);
        buffer = lines.pop() ?? "";
        for (const line of lines) if (line.trim()) onLine(line, seconds());
      });
    }
    child.on("error", fail);
    child.on("close", (code) => done({ code: code ?? 1, seconds: seconds() }));
  });
}

async function tfjsRun(): Promise<Outcome> {
  const bin = resolve(here, "../bin/cnnkit-train.js");
  if (!existsSync(resolve(here, "../dist/cli.js"))) {
    throw new Error("apps/trainer/dist is missing: run `pnpm build` first");
  }
  const out = args.out ?? (await mkdtemp(join(tmpdir(), "cnnkit-tta-bench-")));
  const runDir = join(out, `tfjs-${args.preset}`);
  const points: Point[] = [];
  const argv = [bin, "--preset", args.preset!, "--data-dir", args.data!, "--out", runDir, ...extra];
  const tunables = process.env.GLIBC_TUNABLES;
  console.log(`$ ${tunables ? `GLIBC_TUNABLES=${tunables} ` : ""}node ${argv.join(" ")}`);
  const { code, seconds } = await run(process.execPath, argv, (line, t) => {
    // "epoch 3/4: train loss … test loss 0.52 acc 84.12% (with TTA 85.30%), 171.2 s"
    const m = /^epoch (\d+)\/\d+: .*test loss \S+ acc ([\d.]+)%(?: \(with TTA ([\d.]+)%\))?/.exec(
      line,
    );
    if (m) {
      points.push({
        seconds: t,
        epoch: Number(m[1]),
        accuracy: Number(m[2]) / 100,
        tta: m[3] ? Number(m[3]) / 100 : null,
      });
      console.log(`  [tfjs ${t.toFixed(0)} s] ${line}`);
    } else if (/^(backend|data|done|report|exported|export|cnnkit-train)/.test(line)) {
      console.log(`  [tfjs ${t.toFixed(0)} s] ${line}`);
    }
  });
  if (code !== 0) throw new Error(`cnnkit-train exited with ${code}`);
  const metrics = JSON.parse(await readFile(join(runDir, "metrics.json"), "utf8"));
  return {
    name: "tfjs (cnnkit-train)",
    points,
    wallSeconds: seconds,
    note: `${metrics.backend.backend}; training ${metrics.final.trainingSeconds.toFixed(0)} s; run in ${runDir}`,
  };
}

async function torchRun(): Promise<Outcome | null> {
  if (args["no-torch"]) return null;
  const python = "/usr/bin/python3";
  const probe = await run(python, ["-c", "import torch"], () => {}).catch(() => ({ code: 1 }));
  if (probe.code !== 0) {
    console.log("PyTorch: /usr/bin/python3 has no torch (apt-get install python3-torch); skipped");
    return null;
  }
  if (preset.model !== "fast-resnet") {
    console.log(
      `PyTorch: torch_fast.py implements the fast recipe only, not ${preset.model}; skipped`,
    );
    return null;
  }
  const argv = [
    join(here, "torch_fast.py"),
    "--data",
    args.data!,
    "--threads",
    "2",
    "--widths",
    preset.widths.join(","),
    "--epochs",
    String(preset.epochs),
    "--batch",
    String(preset.batchSize),
    "--tta",
    String(preset.tta),
    "--residual",
    preset.shortcut === "none" ? "0" : "1",
    "--eval-every",
    "1",
    "--seed",
    String(preset.seed),
  ];
  console.log(`$ ${python} ${argv.join(" ")}`);
  const points: Point[] = [];
  const { code, seconds } = await run(python, argv, (line, t) => {
    if (!line.startsWith("{")) return;
    const e = JSON.parse(line);
    if (e.event === "eval") {
      points.push({ seconds: t, epoch: e.epoch, accuracy: e.test_acc, tta: e.test_acc_tta });
      console.log(
        `  [torch ${t.toFixed(0)} s] epoch ${e.epoch}: acc ${(e.test_acc * 100).toFixed(2)}%` +
          (e.test_acc_tta === null ? "" : ` (with TTA ${(e.test_acc_tta * 100).toFixed(2)}%)`) +
          `, training ${e.train_seconds} s`,
      );
    }
  });
  if (code !== 0) throw new Error(`torch_fast.py exited with ${code}`);
  return { name: "PyTorch (torch_fast.py)", points, wallSeconds: seconds, note: "2 threads" };
}

/** Seconds until the first point at or above `target` (plain, or with TTA), or null. */
function timeTo(o: Outcome, target: number, tta: boolean): number | null {
  for (const p of o.points) {
    const a = tta ? (p.tta ?? p.accuracy) : p.accuracy;
    if (a >= target) return p.seconds;
  }
  return null;
}

const fmt = (s: number | null) => (s === null ? "—" : `${(s / 60).toFixed(1)} min`);

const results: Outcome[] = [];
if (!args["torch-only"]) results.push(await tfjsRun());
const torch = await torchRun();
if (torch) results.push(torch);

console.log(
  `\npreset ${args.preset}: ${preset.model} ${preset.widths.join("/")}, ${preset.epochs} epochs, batch ${preset.batchSize}, TTA level ${preset.tta}`,
);
for (const o of results) {
  console.log(`\n${o.name} — whole run ${fmt(o.wallSeconds)} (${o.note})`);
  console.log("  epoch   at        test acc   with TTA");
  for (const p of o.points) {
    console.log(
      `  ${String(p.epoch).padEnd(7)} ${fmt(p.seconds).padEnd(9)} ${(p.accuracy * 100).toFixed(2).padStart(6)}%   ${p.tta === null ? "   —" : `${(p.tta * 100).toFixed(2)}%`}`,
    );
  }
}
if (results.length === 2) {
  const [a, b] = results as [Outcome, Outcome];
  console.log("\ntime to accuracy (tfjs / PyTorch; < 1 means tfjs is faster):");
  for (const target of [0.8, 0.85, 0.88, 0.9, 0.92, 0.94]) {
    for (const tta of [false, true]) {
      const ta = timeTo(a, target, tta);
      const tb = timeTo(b, target, tta);
      if (ta === null && tb === null) continue;
      const ratio = ta !== null && tb !== null ? (ta / tb).toFixed(2) : "—";
      console.log(
        `  ${(target * 100).toFixed(0)}%${tta ? " with TTA" : "         "}  tfjs ${fmt(ta).padEnd(9)} PyTorch ${fmt(tb).padEnd(9)} ratio ${ratio}`,
      );
    }
  }
}
