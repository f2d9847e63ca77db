// Benchmark: export a CIFAR ResNet, measure each artifact's size, accuracy change and top-1
// agreement on real CIFAR-10 test images, the time verifyExport takes, and inference
// throughput of the tfjs (cpu backend) and ONNX (onnxruntime-node) artifacts.
//
//   cd packages/export && pnpm bench                       # random-weight resnet20, 64 images
//   pnpm bench -- --images 1000 --model path/to/export     # a trained export's model.json
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CIFAR10_MEAN, CIFAR10_STD, loadCifar10 } from "@cnnkit/cifar10";
import { resnet20 } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import {
  exportModel,
  formatVerifyReport,
  loadModelFromDir,
  normalizePixels,
  verifyExport,
} from "../src/index.js";
import { openArtifact } from "../src/runner.js";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: { images: { type: "string", default: "64" }, model: { type: "string" } },
});
const n = Number(values.images);
await tf.setBackend("cpu");

const dataset = resolve(import.meta.dirname, "../../../../shared/datasets/cifar-10-binary.tar.gz");
const cifar = await loadCifar10({ path: dataset });
const images = cifar.test.images.subarray(0, n * 3072);
const labels = cifar.test.labels.subarray(0, n);

const model = values.model
  ? await loadModelFromDir(join(values.model, "model.json"))
  : resnet20({ seed: 1 });
const what = values.model
  ? `trained model from ${values.model}`
  : "resnet20 with RANDOM weights (accuracy ≈ chance; pass --model for a trained one)";
const root = await mkdtemp(join(tmpdir(), "cnnkit-export-bench-"));
const dir = join(root, "export");

let t = performance.now();
const { manifest } = await exportModel(model, dir, {
  classNames: cifar.classNames,
  normalization: { mean: CIFAR10_MEAN, std: CIFAR10_STD },
  evaluation: { images, labels },
});
const exportMs = performance.now() - t;

console.log(
  `@cnnkit/export bench: ${what}, ${manifest.model.parameters} parameters, ${n} CIFAR-10 test images, tfjs cpu backend`,
);
console.log(
  `exportModel (incl. evaluating ${manifest.artifacts.length - 2} quantised variants): ${(exportMs / 1000).toFixed(1)} s`,
);
console.log(
  `${"artifact".padEnd(14)}${"bytes".padStart(10)}${"accuracy".padStart(10)}${"Δaccuracy".padStart(11)}${"agreement".padStart(11)}`,
);
for (const a of manifest.artifacts) {
  const pct = (x: number | undefined, sign = false) =>
    x === undefined ? "-" : `${sign && x >= 0 ? "+" : ""}${(x * 100).toFixed(2)}%`;
  console.log(
    `${a.name.padEnd(14)}${String(a.bytes).padStart(10)}${pct(a.accuracy).padStart(10)}${pct(a.accuracyChange, true).padStart(11)}${pct(a.top1Agreement).padStart(11)}`,
  );
}

const verifyCount = Math.min(n, 32);
t = performance.now();
const report = await verifyExport(
  dir,
  {
    images: images.subarray(0, verifyCount * 3072),
    labels: labels.subarray(0, verifyCount),
    model,
  },
  { throwOnFailure: false },
);
console.log(
  `\nverifyExport, ${verifyCount} images, one fresh process per artifact: ${((performance.now() - t) / 1000).toFixed(1)} s`,
);
console.log(formatVerifyReport(report));

const inputs = normalizePixels(images, manifest);
console.log("\ninference throughput (batches of 32, after one warm-up batch):");
for (const name of ["tfjs", "onnx"] as const) {
  const artifact = manifest.artifacts.find((a) => a.name === name);
  if (!artifact) continue;
  const runner = await openArtifact(dir, manifest, artifact);
  await runner.run(inputs, Math.min(32, n));
  t = performance.now();
  await runner.run(inputs, n);
  const s = (performance.now() - t) / 1000;
  console.log(`  ${name.padEnd(6)} ${(n / s).toFixed(1)} images/s`);
  await runner.dispose();
}
model.dispose();
await rm(root, { recursive: true, force: true });
console.log(
  `\nreproduce: cd packages/export && pnpm bench${values.model ? ` -- --model ${values.model}` : ""}${n !== 64 ? ` --images ${n}` : ""}`,
);
