// Draws the README's pictures from the example model (scripts/train-example.py) and the real
// CIFAR-10 test set. Run: cd packages/explain && pnpm pictures
// Reads ../shared/datasets/cifar-10-binary.tar.gz beside the repository; writes docs/*.png.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { importTorchStateDict, smallResNet } from "@cnnkit/resnet";
import { savePicture } from "@cnnkit/viz";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { featureMaps, firstLayerFilters, gradCamGallery } from "../src/index.js";

const HERE = new URL("../", import.meta.url);
const TARBALL = new URL("../../../shared/datasets/cifar-10-binary.tar.gz", HERE);
const MEAN = [0.4914, 0.4822, 0.4465];
const STD = [0.247, 0.2435, 0.2616];
const N = 1000; // test images scanned for mistakes (the example model saw none of them)

/** One file out of a .tar.gz, by base name (ustar: 512-byte headers, size in octal). */
function untar(gz: Uint8Array, name: string): Uint8Array {
  const tar = gunzipSync(gz);
  for (let at = 0; at + 512 <= tar.length; ) {
    const path = tar
      .subarray(at, at + 100)
      .toString("latin1")
      .replace(/\0.*$/s, "");
    const size = Number.parseInt(
      tar
        .subarray(at + 124, at + 136)
        .toString("latin1")
        .trim(),
      8,
    );
    if (path.endsWith(`/${name}`) || path === name) return tar.subarray(at + 512, at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${name}: not found in ${TARBALL.pathname}`);
}

await tf.setBackend("cpu");
const gz = readFileSync(TARBALL);
const bin = untar(gz, "test_batch.bin");
const classNames = new TextDecoder()
  .decode(untar(gz, "batches.meta.txt"))
  .split("\n")
  .filter(Boolean);
// Records are label, 1024 red, 1024 green, 1024 blue bytes: reorder to NHWC.
const images = new Uint8Array(N * 3072);
const labels = new Uint8Array(N);
for (let i = 0; i < N; i++) {
  labels[i] = bin[i * 3073]!;
  for (let p = 0; p < 1024; p++) {
    for (let c = 0; c < 3; c++) images[i * 3072 + p * 3 + c] = bin[i * 3073 + 1 + c * 1024 + p]!;
  }
}
const normalised = (i: number) =>
  Float32Array.from(
    images.subarray(i * 3072, (i + 1) * 3072),
    (v, p) => (v / 255 - MEAN[p % 3]!) / STD[p % 3]!,
  );

const model = smallResNet({ widths: [16, 32, 64] });
importTorchStateDict(model, readFileSync(new URL("example/small-resnet-w16.safetensors", HERE)));

// The most confident mistakes, the way @cnnkit/metrics ranks them.
const mistakes: { index: number; predicted: number; confidence: number }[] = [];
let correct = 0;
for (let start = 0; start < N; start += 100) {
  const probs = tf.tidy(() => {
    const x = tf.concat(
      Array.from({ length: 100 }, (_, j) => tf.tensor4d(normalised(start + j), [1, 32, 32, 3])),
    );
    return tf.softmax(model.predict(x) as tf.Tensor2D).arraySync() as number[][];
  });
  probs.forEach((p, j) => {
    const predicted = p.indexOf(Math.max(...p));
    if (predicted === labels[start + j]) correct++;
    else mistakes.push({ index: start + j, predicted, confidence: p[predicted]! });
  });
}
mistakes.sort((a, b) => b.confidence - a.confidence);
const worst = mistakes.slice(0, 8);
console.log(`example model: ${correct}/${N} right on the first ${N} test images`);

const docs = new URL("docs/", HERE);
await savePicture(firstLayerFilters(model), new URL("filters.png", docs).pathname);
const maps = featureMaps(model, normalised(0), { channels: 8 });
for (const m of maps)
  await savePicture(m.picture, new URL(`features-${m.layer}.png`, docs).pathname);
await savePicture(
  gradCamGallery(
    model,
    { images, labels, length: N },
    worst.map((m) => m.index),
    {
      classNames,
      normalize: { mean: MEAN, std: STD },
      predictions: worst.map((m) => m.predicted),
      title: `Grad-CAM of the predicted class on the ${worst.length} most confident mistakes`,
    },
  ),
  new URL("grad-cam-mistakes.png", docs).pathname,
);
console.log(
  `wrote docs/filters.png, docs/features-*.png, docs/grad-cam-mistakes.png (test image 0 is a ${classNames[labels[0]!]})`,
);
console.log("command: cd packages/explain && pnpm pictures");
