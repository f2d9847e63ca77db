import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomImages, tinyResNet } from "./__fixtures__/tiny-resnet.js";
import { sha256Hex, verifyArtifactFiles } from "./digests.js";
import type { ExportError } from "./errors.js";
import { exportModel } from "./export-model.js";
import { type Manifest, readManifest } from "./manifest.js";
import { predict } from "./predict.js";
import { verifyExport } from "./verify-export.js";

const CLASSES = Array.from({ length: 10 }, (_, i) => `class${i}`);
const normalization = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const picture = { data: randomImages(1, 32, 5), width: 32, height: 32 };

let model: tfl.LayersModel;
let root: string;

beforeAll(async () => {
  await tf.setBackend("cpu");
  model = tinyResNet({ seed: 3 });
  root = await mkdtemp(join(tmpdir(), "cnnkit-digests-"));
});
afterAll(() => model.dispose());

async function freshExport(name: string): Promise<string> {
  const dir = join(root, name);
  await exportModel(model, dir, { classNames: CLASSES, normalization, quantize: ["uint8"] });
  return dir;
}

/** Flips one byte in place: same size, same mtime order, other weights. */
async function tamper(path: string, at = 100): Promise<void> {
  const bytes = await readFile(path);
  bytes[at] = (bytes[at] as number) ^ 0x40;
  await writeFile(path, bytes);
}

async function rejection(p: Promise<unknown>): Promise<ExportError> {
  return (await p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  )) as ExportError;
}

describe("SHA-256 digests of an export's files", () => {
  it("records one per file of every artifact, matching the bytes on disk", async () => {
    const dir = await freshExport("recorded");
    const manifest = await readManifest(dir);
    expect(manifest.artifacts.map((a) => Object.keys(a.sha256 ?? {}))).toEqual([
      ["model.json", "group1-shard1of1.bin"],
      ["uint8/model.json", "uint8/group1-shard1of1.bin"],
      ["model.onnx"],
    ]);
    for (const a of manifest.artifacts) {
      for (const [file, digest] of Object.entries(a.sha256!)) {
        expect(sha256Hex(await readFile(join(dir, file)))).toBe(digest);
      }
      expect(await verifyArtifactFiles(dir, manifest, a.name)).toBe(true);
    }
  });

  it("refuses a weight shard altered in place: predict and verifyExport name the file", async () => {
    const dir = await freshExport("tampered-shard");
    const shard = join(dir, "group1-shard1of1.bin");
    await tamper(shard);
    const e = await rejection(predict(dir, [picture]));
    expect(e.code).toBe("digest_mismatch");
    expect(e.message).toMatch(
      new RegExp(
        `^${shard}: SHA-256 [0-9a-f]{64} differs from the [0-9a-f]{64} recorded in manifest\\.json`,
      ),
    );
    // The other artifacts are intact and still run.
    expect((await predict(dir, [picture], { artifact: "tfjs-uint8" }))[0]?.top).toHaveLength(5);
    const report = await verifyExport(
      dir,
      { images: picture.data, model },
      { throwOnFailure: false, artifacts: ["tfjs", "tfjs-uint8"] },
    );
    expect(report.artifacts.map((a) => a.ok)).toEqual([false, true]);
    expect(report.artifacts[0]?.failures[0]).toContain(`${shard}: SHA-256`);
  });

  it("refuses an altered model.json, quantised shard or ONNX file", async () => {
    const dir = await freshExport("tampered-others");
    await tamper(join(dir, "uint8", "group1-shard1of1.bin"), 10);
    await tamper(join(dir, "model.onnx"), 200);
    const json = join(dir, "model.json");
    await writeFile(json, `${await readFile(json, "utf8")} `);
    for (const [artifact, file] of [
      ["tfjs", "model.json"],
      ["tfjs-uint8", "uint8/group1-shard1of1.bin"],
      ["onnx", "model.onnx"],
    ] as const) {
      const e = await rejection(predict(dir, [picture], { artifact }));
      expect(e.code, artifact).toBe("digest_mismatch");
      expect(e.message.startsWith(`${join(dir, file)}: SHA-256`), e.message).toBe(true);
    }
  });

  it("loads an export written before digests were recorded, and checks the digests' form", async () => {
    const dir = await freshExport("old");
    const path = join(dir, "manifest.json");
    const manifest = JSON.parse(await readFile(path, "utf8")) as Manifest;
    for (const a of manifest.artifacts) delete a.sha256;
    await writeFile(path, JSON.stringify(manifest));
    expect(await verifyArtifactFiles(dir, await readManifest(dir), "tfjs")).toBe(false);
    expect((await predict(dir, [picture]))[0]?.top).toHaveLength(5);
    (manifest.artifacts[0] as { sha256?: unknown }).sha256 = { "model.json": "abc" };
    await writeFile(path, JSON.stringify(manifest));
    expect((await rejection(readManifest(dir))).message).toMatch(
      /artifact "tfjs" sha256 to map file paths to SHA-256 hex digests/,
    );
  });
});
