import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CIFAR10_CLASS_NAMES, CIFAR10_MEAN, CIFAR10_STD } from "@cnnkit/cifar10";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tinyResNet } from "./__fixtures__/tiny-resnet.js";
import {
  assertExportReplaceable,
  exportReplaceProblem,
  removeStaleExportTemps,
} from "./export-dir.js";
import { type ExportInfo, exportModel } from "./export-model.js";

const info: ExportInfo = {
  classNames: [...CIFAR10_CLASS_NAMES],
  normalization: { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] },
  quantize: ["float16"],
  onnx: false,
};

let model: tfl.LayersModel;
let root: string;

beforeAll(async () => {
  await tf.setBackend("cpu");
  model = tinyResNet();
  root = await mkdtemp(join(tmpdir(), "cnnkit-export-dir-"));
});
afterAll(() => model.dispose());

/** A pid no process has any more: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "0"]);
  return child.pid!;
}

async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe("replacing an export", () => {
  it("replaces its own export and the companion files written beside it", async () => {
    const dir = join(root, "own");
    await exportModel(model, dir, info);
    await writeFile(join(dir, "verification.json"), "{}");
    await writeFile(join(dir, "verification.txt"), "ok");
    expect(await exportReplaceProblem(dir)).toBeNull();
    await exportModel(model, dir, { ...info, quantize: [], overwrite: true });
    expect(await tree(dir)).toEqual(["group1-shard1of1.bin", "manifest.json", "model.json"]);
  });

  it("refuses an export holding a file of someone else's, changing nothing", async () => {
    const dir = join(root, "with-notes");
    await exportModel(model, dir, info);
    await writeFile(join(dir, "notes.txt"), "my notes");
    await mkdir(join(dir, "float16", "mine"));
    await writeFile(join(dir, "float16", "mine", "x.bin"), "mine");
    const before = await tree(dir);
    const manifest = await readFile(join(dir, "manifest.json"), "utf8");
    await expect(exportModel(model, dir, { ...info, overwrite: true })).rejects.toMatchObject({
      code: "exists",
      message: expect.stringMatching(
        new RegExp(
          `^${dir}: will not replace this folder with an export: it holds float16/mine/x\\.bin, notes\\.txt, which its manifest\\.json does not list`,
        ),
      ),
    });
    expect(await tree(dir)).toEqual(before);
    expect(await readFile(join(dir, "manifest.json"), "utf8")).toBe(manifest);
    expect(await readFile(join(dir, "notes.txt"), "utf8")).toBe("my notes");
    expect((await readdir(root)).filter((n) => n.startsWith("."))).toEqual([]);
  });

  it("keeps a file put into the export while a new one is being written", async () => {
    const dir = join(root, "late-notes");
    await exportModel(model, dir, info);
    const run = exportModel(model, dir, { ...info, overwrite: true });
    // Once the partial export exists, the check before the work has passed.
    while (!(await readdir(root)).some((n) => n.startsWith(".late-notes.partial-"))) {
      await new Promise((r) => setTimeout(r, 1));
    }
    await writeFile(join(dir, "late.txt"), "written during the export");
    await expect(run).rejects.toMatchObject({
      code: "exists",
      message: expect.stringContaining("it holds late.txt"),
    });
    expect(await readFile(join(dir, "late.txt"), "utf8")).toBe("written during the export");
    expect(await tree(dir)).toContain("manifest.json");
    expect((await readdir(root)).filter((n) => n.startsWith("."))).toEqual([]);
  });

  it("refuses a folder that is not an export, and fills an empty one", async () => {
    const dir = join(root, "not-an-export");
    await mkdir(dir);
    await writeFile(join(dir, "model.json"), "{}");
    await expect(assertExportReplaceable(dir)).rejects.toMatchObject({
      code: "exists",
      message: expect.stringContaining(
        "it is not an export written by @cnnkit/export (no manifest.json listing its files) and holds model.json",
      ),
    });
    await expect(exportModel(model, dir, { ...info, overwrite: true })).rejects.toMatchObject({
      code: "exists",
    });
    expect(await tree(dir)).toEqual(["model.json"]);

    const empty = join(root, "empty");
    await mkdir(empty);
    await exportModel(model, empty, { ...info, overwrite: true });
    expect(await tree(empty)).toContain("manifest.json");
  });
});

describe("removeStaleExportTemps", () => {
  it("removes a dead process's partial export, restores or removes its old one, and leaves live ones", async () => {
    const parent = await mkdtemp(join(tmpdir(), "cnnkit-export-stale-"));
    const target = join(parent, "export");
    const dead = deadPid();
    const partial = join(parent, `.export.partial-${dead}-0123abcd`);
    const live = join(parent, `.export.partial-${process.pid}-0123abcd`);
    await mkdir(partial);
    await writeFile(join(partial, "model.json"), "{}");
    await mkdir(live);
    // A kill between moving the previous export aside and moving the new one in.
    const old = join(parent, `.export.old-${dead}-89abcdef`);
    await exportModel(model, old, info);
    const unrelated = join(parent, ".export.partial-notes");
    await mkdir(unrelated);

    expect(await removeStaleExportTemps(target)).toEqual(expect.arrayContaining([partial, old]));
    expect((await readdir(parent)).sort()).toEqual(
      [".export.partial-notes", `.export.partial-${process.pid}-0123abcd`, "export"].sort(),
    );
    expect(await tree(target)).toContain("manifest.json");

    // With the export back in place, a stale old copy of an export is removed; one holding a
    // file of someone else's is kept.
    const oldOwn = join(parent, `.export.old-${dead}-00000001`);
    const oldMixed = join(parent, `.export.old-${dead}-00000002`);
    await exportModel(model, oldOwn, info);
    await exportModel(model, oldMixed, info);
    await writeFile(join(oldMixed, "notes.txt"), "mine");
    expect(await removeStaleExportTemps(target)).toEqual([oldOwn]);
    expect(await readdir(parent)).toContain(`.export.old-${dead}-00000002`);
  });
});
