import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CIFAR10_CLASS_NAMES, CIFAR10_MEAN, CIFAR10_STD } from "@cnnkit/cifar10";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type * as tfl from "@tensorflow/tfjs-layers";
import { encode as encodePng } from "fast-png";
import jpeg from "jpeg-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomImages, tinyResNet } from "./__fixtures__/tiny-resnet.js";
import { exportModel } from "./export-model.js";
import { decodeImage, preprocessImage, type RgbImage } from "./image.js";
import { readManifest } from "./manifest.js";
import { predict } from "./predict.js";

const run = promisify(execFile);
const CLASSES = [...CIFAR10_CLASS_NAMES];
const normalization = { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };

let model: tfl.LayersModel;
let dir: string;
let pngPath: string;
let jpegPath: string;
let garbagePath: string;

beforeAll(async () => {
  await tf.setBackend("cpu");
  model = tinyResNet({ seed: 4 });
  const root = await mkdtemp(join(tmpdir(), "cnnkit-predict-"));
  dir = join(root, "export");
  await exportModel(model, dir, { classNames: CLASSES, normalization, quantize: [] });
  pngPath = join(root, "cat.png");
  await writeFile(
    pngPath,
    encodePng({ width: 32, height: 32, data: randomImages(1, 32, 21), channels: 3 }),
  );
  // A 48×40 JPEG: predict must resize the shorter side and centre-crop.
  const rgba = randomImages(1, 64, 22).subarray(0, 48 * 40 * 4); // 64×64×3 bytes ≥ 48×40×4
  jpegPath = join(root, "dog.jpg");
  await writeFile(jpegPath, jpeg.encode({ width: 48, height: 40, data: rgba }, 90).data);
  garbagePath = join(root, "notes.png");
  await writeFile(garbagePath, "not an image at all");
});
afterAll(() => model.dispose());

function modelLogits(
  image: RgbImage,
  manifest: Awaited<ReturnType<typeof readManifest>>,
): Float32Array {
  return tf.tidy(
    () =>
      (
        model.predict(tf.tensor(preprocessImage(image, manifest), [1, 32, 32, 3])) as tf.Tensor
      ).dataSync() as Float32Array,
  );
}

describe("predict", () => {
  it("classifies PNG and JPEG files as the original model does on the manifest's preprocessing", async () => {
    const manifest = await readManifest(dir);
    const before = tf.memory().numTensors;
    const results = await predict(dir, [pngPath, jpegPath], { topK: 3 });
    expect(tf.memory().numTensors).toBe(before);
    expect(results.map((r) => r.source)).toEqual([pngPath, jpegPath]);
    const { readFile } = await import("node:fs/promises");
    for (const [i, path] of [pngPath, jpegPath].entries()) {
      const r = results[i];
      const expected = modelLogits(decodeImage(await readFile(path), path), manifest);
      expect(
        Array.from(r?.logits ?? []).map((v, k) => Math.abs(v - (expected[k] as number))),
      ).toSatisfy((d: number[]) => Math.max(...d) < 1e-5);
      expect(r?.top).toHaveLength(3);
      const probs = r?.top.map((t) => t.probability) ?? [];
      expect([...probs].sort((a, b) => b - a)).toEqual(probs);
      const best = expected.indexOf(Math.max(...expected));
      expect(r?.top[0]?.classIndex).toBe(best);
      expect(r?.top[0]?.className).toBe(CLASSES[best]);
      // Softmax of the logits: the top probability follows from them exactly.
      const sum = expected.reduce((s, v) => s + Math.exp(v - (expected[best] as number)), 0);
      expect(r?.top[0]?.probability).toBeCloseTo(1 / sum, 6);
    }
  });

  it("accepts encoded bytes and decoded pictures, and runs the ONNX artifact alike", async () => {
    const picture: RgbImage = { data: randomImages(1, 32, 23), width: 32, height: 32 };
    const tfjs = await predict(dir, [
      encodePng({ width: 32, height: 32, data: picture.data, channels: 3 }),
      picture,
    ]);
    expect(tfjs.map((r) => r.source)).toEqual(["images[0]", "images[1]"]);
    expect(Array.from(tfjs[0]?.logits ?? [])).toEqual(Array.from(tfjs[1]?.logits ?? []));
    expect(tfjs[0]?.top).toHaveLength(5);
    const onnx = await predict(dir, [picture], { artifact: "onnx", topK: 10 });
    const diff = Math.max(
      ...Array.from(onnx[0]?.logits ?? [], (v, k) => Math.abs(v - (tfjs[1]?.logits[k] as number))),
    );
    expect(diff).toBeLessThan(1e-4);
  });

  it("names the file that is missing or not an image, and checks topK", async () => {
    await expect(predict(dir, [garbagePath])).rejects.toMatchObject({
      code: "bad_image",
      message: expect.stringContaining(`${garbagePath}: expected a PNG or JPEG image`),
    });
    await expect(predict(dir, [join(dir, "nope.png")])).rejects.toMatchObject({
      code: "missing_file",
      message: expect.stringContaining("nope.png: cannot read the image (ENOENT)"),
    });
    await expect(predict(dir, [pngPath], { topK: 11 })).rejects.toThrow(
      "predict topK: expected an integer from 1 to 10, got 11",
    );
    await expect(predict(join(dir, "..", "nowhere"), [pngPath])).rejects.toMatchObject({
      code: "missing_file",
      message: expect.stringContaining("manifest.json"),
    });
  });
});

describe("cnnkit-predict", () => {
  const cli = fileURLToPath(new URL("./cli.ts", import.meta.url));
  const node = (args: string[]) =>
    run(process.execPath, ["--import", "tsx", "--conditions=@cnnkit/source", cli, ...args], {
      encoding: "utf8",
    });

  it("prints the top-k classes as JSON, matching predict()", async () => {
    const { stdout } = await node([dir, pngPath, "--json", "--top", "2"]);
    const printed = JSON.parse(stdout) as {
      source: string;
      top: { className: string; probability: number }[];
    }[];
    const [expected] = await predict(dir, [pngPath], { topK: 2 });
    expect(printed).toHaveLength(1);
    expect(printed[0]?.source).toBe(pngPath);
    expect(printed[0]?.top.map((t) => t.className)).toEqual(expected?.top.map((t) => t.className));
    expect(printed[0]?.top[0]?.probability).toBeCloseTo(expected?.top[0]?.probability as number, 6);
  });

  it("exits non-zero naming the file when an input is not an image", async () => {
    const err = (await node([dir, garbagePath]).catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain(`cnnkit-predict: ${garbagePath}: expected a PNG or JPEG image`);
  });
});
