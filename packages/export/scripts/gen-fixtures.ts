// Writes the committed export fixture: a tiny seeded ResNet exported with every artifact, plus
// the raw test images the reference logits are computed on. Then run gen-fixtures.py, which
// checks model.onnx with the ONNX checker and computes those reference logits with PyTorch.
//
//   cd packages/export
//   node --conditions=@cnnkit/source --import tsx scripts/gen-fixtures.ts
//   /usr/bin/python3 scripts/gen-fixtures.py
import { rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { CIFAR10_CLASS_NAMES } from "@cnnkit/cifar10";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { randomImages, tinyResNet } from "../src/__fixtures__/tiny-resnet.js";
import { exportModel } from "../src/export-model.js";

await tf.setBackend("cpu");
const out = fileURLToPath(new URL("../src/__fixtures__/tiny-export/", import.meta.url));
const images = fileURLToPath(
  new URL("../src/__fixtures__/tiny-export-images.bin", import.meta.url),
);
await rm(out, { recursive: true, force: true });
const model = tinyResNet({ seed: 1 });
const { manifest } = await exportModel(model, out, {
  classNames: [...CIFAR10_CLASS_NAMES],
  normalization: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  metrics: { note: "random weights: a format fixture, not a trained model" },
});
// A fixed date and versions so regenerating changes only what really changed.
manifest.createdAt = "2026-01-01T00:00:00.000Z";
manifest.versions = { ...manifest.versions, node: "fixture", backend: "cpu" };
await writeFile(`${out}manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
await writeFile(images, randomImages(4, 32, 2026));
console.log(`wrote ${out} and ${images}`);
