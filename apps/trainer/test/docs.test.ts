// Every command the READMEs and the walkthrough show runs, in its quickest form, so the docs
// cannot rot: the commands are read from the Markdown (doc-commands.ts), each document's in
// order in a fresh folder (a later command uses what an earlier one wrote, as a reader's would),
// on the real CIFAR-10 from ../shared/datasets. `cnnkit-train` trains with `--preset smoke`,
// `cnnkit-experiment` runs with `--smoke`; the few commands not run here say why (NOT_RUN).
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCifar10 } from "@cnnkit/cifar10";
import { encodePNG } from "@cnnkit/viz";
import { describe, expect, it } from "vitest";
import { main as trainMain } from "../src/cli.js";
import { main as experimentMain } from "../src/experiments/cli.js";
import { DOCS, docCommands, NOT_RUN, plan } from "./doc-commands.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const archive = resolve(repoRoot, "../shared/datasets/cifar-10-binary.tar.gz");
const cache = join(repoRoot, ".cache", "cnnkit");
const haveData = existsSync(archive);

const commandsOf = async (doc: string) =>
  docCommands(await readFile(join(repoRoot, doc), "utf8"), doc);

describe("the commands in the docs", () => {
  it("are each run by this test or listed as not run, with a reason", async () => {
    const unknown: string[] = [];
    const seen = new Set<string>();
    for (const doc of DOCS) {
      const commands = await commandsOf(doc);
      expect(commands.length, `${doc} shows no command`).toBeGreaterThan(0);
      for (const c of commands) {
        const p = plan(c.text);
        if ("unknown" in p) unknown.push(`${c.file}:${c.line}: ${c.text}`);
        if ("skip" in p) seen.add(p.skip);
      }
    }
    expect(unknown, "commands neither run nor listed in NOT_RUN").toEqual([]);
    // A reason no command needs any more is a stale entry.
    expect(NOT_RUN.map((n) => n.why).filter((why) => !seen.has(why))).toEqual([]);
  });

  it("reads blocks, continuation lines, comments and && as a reader's shell would", () => {
    const md = [
      "```sh",
      "corepack pnpm install && corepack pnpm train   # 11 minutes",
      "node apps/trainer/bin/cnnkit-experiment.js residuals \\",
      "    --out runs/x",
      "```",
      "```ts",
      "node not-a-command.js",
      "```",
    ].join("\n");
    expect(docCommands(md, "x.md")).toEqual([
      { file: "x.md", line: 2, text: "corepack pnpm install" },
      { file: "x.md", line: 2, text: "corepack pnpm train" },
      {
        file: "x.md",
        line: 3,
        text: "node apps/trainer/bin/cnnkit-experiment.js residuals --out runs/x",
      },
    ]);
    expect(plan("corepack pnpm train --preset cpu --epochs 1")).toEqual({
      run: "cnnkit-train",
      argv: ["--epochs", "1", "--preset", "smoke"],
    });
    expect(plan("node apps/trainer/bin/cnnkit-train.js eval runs/smoke")).toEqual({
      run: "cnnkit-train",
      argv: ["eval", "runs/smoke"],
    });
    expect(plan("corepack pnpm experiment pitfalls")).toEqual({
      run: "cnnkit-experiment",
      argv: ["pitfalls", "--smoke"],
    });
  });

  for (const doc of DOCS) {
    it.skipIf(!haveData)(
      `run as written in ${doc} (quickest form)`,
      { timeout: 900_000 },
      async () => {
        // ../shared/datasets relative to the folder the commands run in, as beside the clone. Inside
        // the repository (.cache is ignored): worker threads resolve \`--import tsx\` from the cwd.
        await mkdir(join(repoRoot, ".cache"), { recursive: true });
        const parent = await mkdtemp(join(repoRoot, ".cache", "docs-test-"));
        await mkdir(join(parent, "shared", "datasets"), { recursive: true });
        await symlink(archive, join(parent, "shared", "datasets", "cifar-10-binary.tar.gz"));
        const cwd = join(parent, "clone");
        await mkdir(cwd);
        const env = { CNNKIT_DATA_DIR: cache, CNNKIT_CIFAR10_URL: archive };
        const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
        const here = process.cwd();
        Object.assign(process.env, env);
        process.chdir(cwd);
        try {
          for (const c of await commandsOf(doc)) {
            const p = plan(c.text);
            if (!("run" in p)) continue;
            await provideImages(p.argv, cwd);
            const out: string[] = [];
            const io = {
              stdout: { write: (s: string) => out.push(s) },
              stderr: { write: (s: string) => out.push(s) },
            };
            const code =
              p.run === "cnnkit-train"
                ? await trainMain(p.argv, io)
                : await experimentMain(p.argv, io);
            expect(
              code,
              `${c.file}:${c.line}: ${p.run} ${p.argv.join(" ")}\n${out.join("").slice(-3000)}`,
            ).toBe(0);
          }
        } finally {
          process.chdir(here);
          await rm(parent, { recursive: true, force: true });
          for (const [k, v] of Object.entries(saved)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
          }
        }
      },
    );
  }
});

/** The images a `predict` command names (`cat.png`, `dog.jpg`): a test image of that class. */
async function provideImages(argv: string[], cwd: string): Promise<void> {
  if (argv[0] !== "predict") return;
  const images = argv.slice(2).filter((a) => /\.(png|jpe?g)$/i.test(a));
  if (images.length === 0) return;
  const { test, classNames } = await loadCifar10({ cacheDir: cache, url: archive });
  for (const name of images) {
    const path = join(cwd, name);
    if (existsSync(path)) continue;
    const wanted = classNames.findIndex((c) =>
      name.toLowerCase().includes(c.replace("automobile", "car")),
    );
    const index = Math.max(0, test.labels.indexOf(Math.max(0, wanted)));
    const rgb = test.images.subarray(index * 3072, (index + 1) * 3072);
    if (extname(name).toLowerCase() === ".png") {
      await writeFile(path, encodePNG({ data: rgb, width: 32, height: 32, channels: 3 }));
    } else {
      // jpeg-js comes with @cnnkit/export (predict reads JPEG through it).
      const jpeg = createRequire(join(repoRoot, "packages/export/package.json"))("jpeg-js");
      const rgba = new Uint8Array(32 * 32 * 4);
      for (let i = 0; i < 1024; i++) rgba.set([...rgb.subarray(i * 3, i * 3 + 3), 255], i * 4);
      await writeFile(path, jpeg.encode({ data: rgba, width: 32, height: 32 }, 90).data);
    }
  }
}
