import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { fixture, fixtureBytes, useCpu } from "../test/helpers.js";
import {
  encodeSafetensors,
  importTorchStateDict,
  parseSafetensors,
  ResNetError,
  resnet20,
  type SafetensorsFile,
  type SafetensorsTensor,
  safetensorsToFloat32,
} from "./index.js";

beforeAll(useCpu);

const FILE = "resnet20-w4.safetensors";
const build = () => resnet20({ widths: [4, 8, 16], seed: 1 });

function edited(edit: (tensors: Map<string, SafetensorsTensor>) => void): SafetensorsFile {
  const file = fixture(FILE);
  const tensors = new Map(file.tensors);
  edit(tensors);
  return { tensors, metadata: {} };
}

const weightsOf = (m: ReturnType<typeof build>) =>
  m.weights.map((w) => Array.from(w.read().dataSync()));

describe("importTorchStateDict", () => {
  it("converts conv kernels NCHW → NHWC and linear weights [out, in] → [in, out]", () => {
    const before = tf.memory().numTensors;
    const m = build();
    const report = importTorchStateDict(m, fixtureBytes(FILE));
    const file = fixture(FILE);
    const torch = (name: string) => safetensorsToFloat32(file.tensors.get(name)!, name);
    // conv1.weight is [out 4, in 3, 3, 3]; the tfjs kernel is [3, 3, in 3, out 4].
    const kernel = m.getLayer("stem_conv").weights[0]!.read();
    expect(kernel.shape).toEqual([3, 3, 3, 4]);
    const k = kernel.arraySync() as number[][][][];
    const w = torch("conv1.weight");
    expect(k[1]![2]![0]![3]).toBe(w[((3 * 3 + 0) * 3 + 1) * 3 + 2]);
    const dense = m.getLayer("logits").weights[0]!.read().arraySync() as number[][];
    expect(dense[5]![7]).toBe(torch("linear.weight")[7 * 16 + 5]);
    const [, , mean, variance] = m.getLayer("stage2_block1_shortcut_bn").weights;
    expect(Array.from(mean!.read().dataSync())).toEqual(
      Array.from(torch("layer2.0.shortcut.1.running_mean")),
    );
    expect(Array.from(variance!.read().dataSync())).toEqual(
      Array.from(torch("layer2.0.shortcut.1.running_var")),
    );
    // Every weight loaded, every counter skipped.
    const counters = [...file.tensors.keys()].filter((n) => n.endsWith("num_batches_tracked"));
    expect(report.loaded.length + counters.length).toBe(file.tensors.size);
    expect([...report.skipped].sort()).toEqual(counters.sort());
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("accepts DataParallel / torch.compile prefixes and torchvision's fc / downsample names", () => {
    const renamed = edited((t) => {
      for (const [name, tensor] of [...t]) {
        t.delete(name);
        const plain = name.replace(/^linear\./, "fc.").replace(".shortcut.", ".downsample.");
        t.set(`module._orig_mod.${plain}`, tensor);
      }
    });
    const a = build();
    const b = build();
    importTorchStateDict(a, fixtureBytes(FILE));
    importTorchStateDict(b, renamed);
    expect(weightsOf(b)).toEqual(weightsOf(a));
    a.dispose();
    b.dispose();
  });

  it("refuses a missing tensor, naming it, and leaves the model unchanged", () => {
    const m = build();
    const original = weightsOf(m);
    const call = () =>
      importTorchStateDict(
        m,
        edited((t) => t.delete("layer3.0.shortcut.1.running_var")),
      );
    expect(call).toThrow(ResNetError);
    expect(call).toThrow(
      'state dict: expected tensor "layer3.0.shortcut.1.running_var" [16] for layer "stage3_block1_shortcut_bn", not found',
    );
    expect(weightsOf(m)).toEqual(original);
    m.dispose();
  });

  it("refuses a shape mismatch, naming the tensor and both shapes in PyTorch layout", () => {
    // Weights of a wider network do not fit.
    const m = resnet20({ widths: [8, 8, 16] });
    const call = () => importTorchStateDict(m, fixtureBytes(FILE), { source: FILE });
    expect(call).toThrow(ResNetError);
    expect(call).toThrow(
      'resnet20-w4.safetensors: tensor "conv1.weight": expected shape [8, 3, 3, 3] (PyTorch layout) for layer "stem_conv", got [4, 3, 3, 3]',
    );
    m.dispose();
  });

  it("refuses a dtype other than F32, naming the tensor", () => {
    const half = edited((t) => {
      const w = t.get("layer1.0.conv2.weight")!;
      t.set("layer1.0.conv2.weight", {
        dtype: "F16",
        shape: w.shape,
        data: w.data.subarray(0, w.data.length / 2),
      });
    });
    const m = build();
    expect(() => importTorchStateDict(m, half)).toThrow(
      'tensor "layer1.0.conv2.weight": expected dtype F32, got F16 (convert with .float() in PyTorch before saving)',
    );
    m.dispose();
  });

  it("refuses tensors the model has no place for, unless strict is off", () => {
    const extra = encodeSafetensors({ "conv1.bias": { shape: [4], data: new Float32Array(4) } });
    const withBias = edited((t) =>
      t.set("conv1.bias", parseSafetensors(extra).tensors.get("conv1.bias")!),
    );
    const m = build();
    expect(() => importTorchStateDict(m, withBias)).toThrow(
      'state dict: expected only tensors of model "resnet20", got 1 more: "conv1.bias" (pass strict: false to skip them)',
    );
    const report = importTorchStateDict(m, withBias, { strict: false });
    expect(report.skipped).toContain("conv1.bias");
    m.dispose();
  });

  it("refuses a path in place of the file's bytes", () => {
    const m = build();
    expect(() => importTorchStateDict(m, "model.safetensors" as never)).toThrow(
      'tensors: expected safetensors bytes (Uint8Array, e.g. from readFile) or a parsed SafetensorsFile, got the string "model.safetensors" (read the file first)',
    );
    m.dispose();
  });

  it("refuses a model with layers it does not know", async () => {
    const { sequential, layers } = await import("@tensorflow/tfjs-layers");
    // ("head" would be known: the fast ResNet's Dense.)
    const m = sequential({
      layers: [layers.dense({ name: "classifier", units: 2, inputShape: [3] })],
    });
    expect(() => importTorchStateDict(m, fixtureBytes(FILE))).toThrow(
      'state dict: layer "classifier" (Dense) has no PyTorch counterpart; expected a model built by @cnnkit/resnet',
    );
    m.dispose();
  });
});
