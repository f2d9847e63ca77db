import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomImages, tinyResNet } from "./__fixtures__/tiny-resnet.js";
import { sha256Hex } from "./digests.js";
import { ExportError } from "./errors.js";
import { exportModel } from "./export-model.js";
import {
  formatVerifyReport,
  ParityError,
  type VerifyReport,
  verifyExport,
} from "./verify-export.js";

const CLASSES = Array.from({ length: 10 }, (_, i) => `class${i}`);
const normalization = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };
const N = 4;
const images = randomImages(N, 32, 11);
const labels = [3, 8, 8, 0];

let model: tfl.LayersModel;
let dir: string;

beforeAll(async () => {
  await tf.setBackend("cpu");
  model = tinyResNet({ seed: 2 });
  dir = join(await mkdtemp(join(tmpdir(), "cnnkit-verify-")), "export");
  // The tiny model's tensors are all under the default 1,024 values: quantise them anyway.
  await exportModel(model, dir, { classNames: CLASSES, normalization, uint8MinElements: 0 });
});
afterAll(() => model.dispose());

describe("verifyExport", () => {
  it("passes every artifact of a fresh export, each run in its own process", async () => {
    const before = tf.memory().numTensors;
    const report = await verifyExport(dir, { images, model, labels });
    expect(tf.memory().numTensors).toBe(before);
    expect(report.ok).toBe(true);
    expect(report.samples).toBe(N);
    expect(report.artifacts.map((a) => a.artifact)).toEqual([
      "tfjs",
      "tfjs-float16",
      "tfjs-uint8",
      "onnx",
    ]);
    const [tfjs, f16, u8, onnx] = report.artifacts;
    // A separate process on the same cpu backend computes the same float32 math.
    expect(tfjs?.maxAbsDiff).toBeLessThan(1e-5);
    expect(onnx?.maxAbsDiff).toBeLessThan(1e-4);
    // Quantisation really changes the weights, and more so for uint8.
    expect(f16?.maxAbsDiff).toBeGreaterThan(0);
    expect(u8?.maxAbsDiff).toBeGreaterThan(f16?.maxAbsDiff as number);
    expect(report.referenceAccuracy).toBeDefined();
    expect(formatVerifyReport(report)).toMatch(
      /tfjs-uint8 .* ok\n[\s\S]*all artifacts within tolerance/,
    );
  });

  it("runs the tfjs artifacts on wasm in the child when asked", async () => {
    const report = await verifyExport(
      dir,
      { images, model, labels },
      { backend: "wasm", artifacts: ["tfjs", "tfjs-float16"] },
    );
    expect(report.artifacts.flatMap((a) => a.failures)).toEqual([]);
    expect(report.ok).toBe(true);
    const [tfjs, f16] = report.artifacts;
    // Another backend's float32 math: equal to rounding, not bit for bit necessarily.
    expect(tfjs?.maxAbsDiff).toBeLessThan(1e-4);
    expect(f16?.maxAbsDiff).toBeGreaterThan(0);
  });

  it("fails with a readable diff when the exported weights no longer match", async () => {
    const broken = join(dir, "..", "broken");
    await exportModel(model, broken, {
      classNames: CLASSES,
      normalization,
      quantize: [],
      onnx: false,
    });
    const shard = join(broken, "group1-shard1of1.bin");
    const bytes = await readFile(shard);
    const floats = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    // Shifting the last logits bias moves exactly that logit by a known amount.
    const json = JSON.parse(await readFile(join(broken, "model.json"), "utf8"));
    let at = 0;
    for (const spec of json.weightsManifest[0].weights) {
      const size = spec.shape.reduce((a: number, b: number) => a * b, 1);
      if (spec.name === "logits/bias") at += size - 1;
      if (spec.name === "logits/bias") break;
      at += size;
    }
    floats[at] = (floats[at] as number) + 0.5;
    await writeFile(shard, bytes);
    // Weights that differ but whose manifest agrees (the digest re-recorded): parity must catch it.
    const manifestPath = join(broken, "manifest.json");
    const manifest = JSON.parse(await readFile(manifestPath, "utf8"));
    manifest.artifacts[0].sha256["group1-shard1of1.bin"] = sha256Hex(bytes);
    await writeFile(manifestPath, JSON.stringify(manifest));
    const err = (await verifyExport(broken, { images, model }).catch(
      (e: unknown) => e,
    )) as ExportError & { report: VerifyReport };
    expect(err).toBeInstanceOf(ParityError);
    expect(ParityError.isInstance(err)).toBe(true);
    expect(ExportError.isInstance(err)).toBe(true);
    expect(ParityError.isInstance(new ExportError("parity_failed", "not a ParityError"))).toBe(
      false,
    );
    expect(err.code).toBe("parity_failed");
    expect(err.message).toMatch(/tfjs .* FAIL/);
    expect(err.message).toMatch(/tfjs: max \|Δlogit\| 5\.0\d*e-1 > 0\.001/);
    expect(err.message).toMatch(/largest difference at sample \d, class "class9"/);
    expect(err.message).toMatch(/EXPORT DOES NOT MATCH/);
    expect(err.report.artifacts[0]?.maxAbsDiff).toBeCloseTo(0.5, 4);

    expect(err.report.ok).toBe(false);
  });

  it("reports an artifact that cannot load, naming the file", async () => {
    const missing = join(dir, "..", "missing");
    await exportModel(model, missing, {
      classNames: CLASSES,
      normalization,
      quantize: ["float16"],
      onnx: false,
    });
    await rm(join(missing, "float16", "group1-shard1of1.bin"));
    const report = await verifyExport(
      missing,
      { images, model },
      { throwOnFailure: false, artifacts: ["tfjs-float16"] },
    );
    expect(report.ok).toBe(false);
    expect(report.artifacts.map((a) => a.ok)).toEqual([false]);
    expect(report.artifacts[0]?.failures[0]).toMatch(
      /could not run: .*float16\/group1-shard1of1\.bin: listed in manifest\.json but cannot be read \(ENOENT\)/,
    );
  });

  it("checks the samples", async () => {
    await expect(verifyExport(dir, { images: new Uint8Array(100), model })).rejects.toThrow(
      /samples\.images: expected a non-empty Uint8Array of N×32×32×3 pixels, got 100/,
    );
    await expect(verifyExport(dir, { images })).rejects.toThrow(
      /expected `model` \(the original\) or `logits`/,
    );
  });
});
