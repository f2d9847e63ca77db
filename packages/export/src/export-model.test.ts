import { mkdtemp, readdir, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CIFAR10_CLASS_NAMES, CIFAR10_MEAN, CIFAR10_STD } from "@cnnkit/cifar10";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
import onnxProto from "onnx-proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomImages, tinyResNet } from "./__fixtures__/tiny-resnet.js";
import { exportModel } from "./export-model.js";
import { normalizePixels } from "./image.js";
import { MANIFEST_FORMAT_VERSION, type Manifest } from "./manifest.js";
import { loadModelFromDir } from "./runner.js";

const CLASSES = [...CIFAR10_CLASS_NAMES];
const normalization = { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };

let model: tfl.LayersModel;
let root: string;

beforeAll(async () => {
  await tf.setBackend("cpu");
  model = tinyResNet();
  root = await mkdtemp(join(tmpdir(), "cnnkit-export-"));
});
afterAll(() => model.dispose());

describe("exportModel", () => {
  it("writes tfjs, quantised and ONNX artifacts with a complete manifest, leaking no tensors", async () => {
    const n = 6;
    const images = randomImages(n);
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
    const before = tf.memory().numTensors;
    const { dir, manifest } = await exportModel(model, join(root, "run1"), {
      classNames: CLASSES,
      normalization,
      metrics: { testAccuracy: 0.91, epochs: 3 },
      versions: { "@cnnkit/resnet": "0.1.0" },
      evaluation: { images, labels },
      // The tiny model's tensors are all under the default 1,024 values: quantise them anyway.
      uint8MinElements: 0,
    });
    expect(tf.memory().numTensors).toBe(before);
    const files = (await readdir(dir, { recursive: true })).sort();
    expect(files).toEqual([
      "float16",
      "float16/group1-shard1of1.bin",
      "float16/model.json",
      "group1-shard1of1.bin",
      "manifest.json",
      "model.json",
      "model.onnx",
      "uint8",
      "uint8/group1-shard1of1.bin",
      "uint8/model.json",
    ]);
    const onDisk = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as Manifest;
    expect(onDisk).toEqual(manifest);
    expect(manifest.formatVersion).toBe(MANIFEST_FORMAT_VERSION);
    expect(manifest.classNames).toEqual(CLASSES);
    expect(manifest.input).toEqual({
      shape: [32, 32, 3],
      layout: "NHWC",
      dtype: "float32",
      channelOrder: "RGB",
    });
    expect(manifest.normalization).toEqual(normalization);
    expect(manifest.preprocessing.steps.join("\n")).toMatch(
      /centre-crop 32×32[\s\S]*divide by 255[\s\S]*0\.4914/,
    );
    expect(manifest.metrics).toEqual({ testAccuracy: 0.91, epochs: 3 });
    expect(manifest.versions).toMatchObject({
      "@tensorflow/tfjs-core": "4.22.0",
      "@tensorflow/tfjs-layers": "4.22.0",
      "@cnnkit/resnet": "0.1.0",
    });
    expect(manifest.versions["@cnnkit/export"]).toMatch(/^\d+\.\d+\.\d+/);
    expect(manifest.model.parameters).toBe(model.countParams());
    expect(manifest.artifacts.map((a) => a.name)).toEqual([
      "tfjs",
      "tfjs-float16",
      "tfjs-uint8",
      "onnx",
    ]);

    // Sizes on disk are what the manifest says, and quantisation shrinks the weights 2× and ~4×.
    const shard = async (p: string) => (await stat(join(dir, p))).size;
    const f32 = await shard("group1-shard1of1.bin");
    expect(f32).toBe(model.countParams() * 4);
    expect(await shard("float16/group1-shard1of1.bin")).toBe(f32 / 2);
    expect(await shard("uint8/group1-shard1of1.bin")).toBe(f32 / 4);
    const [tfjs, f16, u8, onnx] = manifest.artifacts;
    expect(tfjs?.bytes).toBe(f32 + (await shard("model.json")));
    expect(onnx?.bytes).toBe(await shard("model.onnx"));
    expect(onnx?.onnx).toEqual({
      input: "input",
      output: "logits",
      inputLayout: "NHWC",
      opset: 13,
    });

    // model.onnx carries how to feed it, as manifest.json says, for whoever gets the file alone.
    const proto = onnxProto.onnx.ModelProto.decode(await readFile(join(dir, "model.onnx")));
    const metadata = Object.fromEntries(
      proto.metadataProps.map(({ key, value }) => [key, JSON.parse(value as string)]),
    );
    expect(metadata).toEqual({
      classNames: manifest.classNames,
      input: manifest.input,
      output: manifest.output,
      normalization: manifest.normalization,
      preprocessing: manifest.preprocessing,
    });

    // Measured accuracy change is recorded and consistent with the float32 accuracy.
    expect(tfjs?.accuracyChange).toBe(0);
    for (const q of [f16, u8]) {
      expect(q?.accuracy).toBeGreaterThanOrEqual(0);
      expect(q?.accuracyChange).toBeCloseTo(
        (q?.accuracy as number) - (tfjs?.accuracy as number),
        10,
      );
      expect(q?.top1Agreement).toBeGreaterThanOrEqual(0);
    }
    expect(f16?.top1Agreement).toBe(1);

    // No temporary directory is left beside the export.
    expect((await readdir(root)).filter((f) => f.startsWith("."))).toEqual([]);
  });

  it("round-trips the float32 model exactly through model.json", async () => {
    const dir = join(root, "roundtrip");
    await exportModel(model, dir, {
      classNames: CLASSES,
      normalization,
      quantize: [],
      onnx: false,
    });
    const loaded = await loadModelFromDir(join(dir, "model.json"));
    const x = tf.tensor(
      normalizePixels(randomImages(2), {
        input: { shape: [32, 32, 3], layout: "NHWC", dtype: "float32", channelOrder: "RGB" },
        normalization,
        preprocessing: { resize: "stretch", filter: "area-bilinear", pixelScale: 255, steps: [] },
      }),
      [2, 32, 32, 3],
    );
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    loaded.dispose();
  });

  it("refuses to replace an existing export unless asked, then replaces it whole", async () => {
    const dir = join(root, "twice");
    await exportModel(model, dir, {
      classNames: CLASSES,
      normalization,
      quantize: ["uint8"],
      onnx: false,
    });
    await expect(
      exportModel(model, dir, { classNames: CLASSES, normalization }),
    ).rejects.toMatchObject({ code: "exists", message: expect.stringContaining(dir) });
    await exportModel(model, dir, {
      classNames: CLASSES,
      normalization,
      quantize: [],
      onnx: true,
      overwrite: true,
    });
    expect((await readdir(dir)).sort()).toEqual([
      "group1-shard1of1.bin",
      "manifest.json",
      "model.json",
      "model.onnx",
    ]);
    expect((await readdir(root)).filter((f) => f.startsWith("."))).toEqual([]);
  });

  it("leaves nothing at the target when the export fails part-way", async () => {
    const input = tfl.input({ shape: [8, 8, 3] });
    const up = tfl.layers
      .upSampling2d({ size: [2, 2], name: "up" })
      .apply(input) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(up) as tfl.SymbolicTensor;
    const odd = tfl.model({
      inputs: input,
      outputs: tfl.layers.dense({ units: 2 }).apply(pooled) as tfl.SymbolicTensor,
    });
    const dir = join(root, "half");
    // tfjs artifacts are written first, then the ONNX conversion fails on the unknown layer.
    await expect(exportModel(odd, dir, { classNames: ["a", "b"], normalization })).rejects.toThrow(
      /layer "up" \(UpSampling2D\)/,
    );
    await expect(stat(dir)).rejects.toMatchObject({ code: "ENOENT" });
    expect((await readdir(root)).filter((f) => f.startsWith("."))).toEqual([]);
    odd.dispose();
  });

  it("checks its options, naming the one at fault", async () => {
    const dir = join(root, "bad");
    await expect(
      exportModel(model, dir, { classNames: ["a", "b"], normalization }),
    ).rejects.toThrow(
      'exportModel info.classNames: expected 10 strings (one per model output), got ["a","b"]',
    );
    await expect(
      exportModel(model, dir, {
        classNames: CLASSES,
        normalization: { mean: [0.5], std: [1, 1, 1] },
      }),
    ).rejects.toThrow(/info\.normalization\.mean: expected 3 finite numbers/);
    await expect(
      exportModel(model, dir, {
        classNames: CLASSES,
        normalization: { mean: [0, 0, 0], std: [1, 0, 1] },
      }),
    ).rejects.toThrow(/info\.normalization\.std: expected 3 positive numbers/);
    await expect(
      exportModel(model, dir, {
        classNames: CLASSES,
        normalization,
        evaluation: { images: new Uint8Array(10), labels: [1] },
      }),
    ).rejects.toThrow(/info\.evaluation\.images: expected 1 labels × 3072 bytes/);
    await expect(stat(dir)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("exportModel into a folder that cannot be made", () => {
  it("fails at once naming it (no spin under /proc)", async () => {
    const tf = await import("@tensorflow/tfjs-core");
    await import("@tensorflow/tfjs-backend-cpu");
    await tf.setBackend("cpu");
    const { tinyResNet } = await import("./__fixtures__/tiny-resnet.js");
    const { exportModel } = await import("./export-model.js");
    const model = tinyResNet();
    try {
      await expect(
        exportModel(model, "/proc/cnnkit-x/export", {
          classNames: Array.from({ length: 10 }, (_, i) => `c${i}`),
          normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
          onnx: false,
          quantize: [],
        }),
      ).rejects.toThrow(/^\/proc\/cnnkit-x: cannot create this folder/);
    } finally {
      model.dispose();
    }
  });
});
