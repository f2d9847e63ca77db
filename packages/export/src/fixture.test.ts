// The committed export fixture (scripts/gen-fixtures.ts) against logits PyTorch computed from
// its model.json (scripts/gen-fixtures.py, which also ran the ONNX checker on model.onnx).
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { normalizePixels } from "./image.js";
import { readManifest } from "./manifest.js";
import { exportOnnx } from "./onnx-export.js";
import { loadModelFromDir } from "./runner.js";
import { verifyExport } from "./verify-export.js";

const dir = fileURLToPath(new URL("./__fixtures__/tiny-export/", import.meta.url));
const reference = JSON.parse(
  await readFile(new URL("./__fixtures__/tiny-export-reference.json", import.meta.url), "utf8"),
) as { count: number; logits: number[] };
const images = new Uint8Array(
  await readFile(new URL("./__fixtures__/tiny-export-images.bin", import.meta.url)),
);
const expected = Float32Array.from(reference.logits);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("export fixture (PyTorch reference)", () => {
  it("reloads with tfjs and reproduces PyTorch's float64 logits", async () => {
    const manifest = await readManifest(dir);
    expect(manifest.formatVersion).toBe(1);
    const inputs = normalizePixels(images, manifest);
    const model = await loadModelFromDir(`${dir}model.json`);
    const got = tf.tidy(() =>
      (model.predict(tf.tensor(inputs, [reference.count, 32, 32, 3])) as tf.Tensor).dataSync(),
    );
    // float32 tfjs against float64 PyTorch, logits of order 1.
    expect(maxAbsDiff(got, expected)).toBeLessThan(1e-5);
    model.dispose();
  });

  it("runs model.onnx in onnxruntime-node to the same logits", async () => {
    const manifest = await readManifest(dir);
    const session = await ort.InferenceSession.create(`${dir}model.onnx`);
    const out = await session.run({
      input: new ort.Tensor("float32", normalizePixels(images, manifest), [
        reference.count,
        32,
        32,
        3,
      ]),
    });
    await session.release();
    expect(maxAbsDiff(out.logits?.data as Float32Array, expected)).toBeLessThan(1e-5);
  });

  it("converts the reloaded model to the committed ONNX bytes exactly (the converter is deterministic)", async () => {
    const model = await loadModelFromDir(`${dir}model.json`);
    const onnx = exportOnnx(model, {
      docString: "tiny_resnet: 10-class classifier exported by @cnnkit/export",
    });
    const committed = new Uint8Array(await readFile(`${dir}model.onnx`));
    expect(onnx.bytes.byteLength).toBe(committed.byteLength);
    expect(Buffer.from(onnx.bytes).equals(Buffer.from(committed))).toBe(true);
    model.dispose();
  });

  it("passes verifyExport for the ONNX artifact in a fresh process", async () => {
    const report = await verifyExport(
      dir,
      { images, logits: expected },
      { artifacts: ["onnx"], tolerances: { onnx: { maxAbs: 1e-5 } } },
    );
    expect(report.ok).toBe(true);
    expect(report.artifacts[0]?.maxAbsDiff).toBeLessThan(1e-5);
  });
});
