import * as tf from "@tensorflow/tfjs-core";
import { input, type LayersModel, model, type SymbolicTensor } from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { expectClose, useCpu } from "../test/helpers.js";
import { type ResBlockOptions, ResNetError, resBlock, smallResNet } from "./index.js";

beforeAll(useCpu);

function blockModel(shape: [number, number, number], options: ResBlockOptions): LayersModel {
  const x = input({ shape });
  return model({ inputs: x, outputs: resBlock(x, { name: "b", ...options }) });
}

/** The names of the layers feeding `name`, in order. */
function inbound(m: LayersModel, name: string): string[] {
  const node = m.getLayer(name).inboundNodes[0]!;
  return node.inboundLayers.map((l) => l.name);
}

describe("resBlock", () => {
  it("uses the identity shortcut when stride is 1 and channels match", () => {
    const m = blockModel([8, 8, 4], { filters: 4 });
    const names = m.layers.map((l) => l.name);
    expect(names).not.toContain("b_shortcut_conv");
    expect(names).not.toContain("b_pad1");
    expect(inbound(m, "b_add")).toEqual(["b_bn2", m.layers[0]!.name]);
    expect(inbound(m, "b_out")).toEqual(["b_add"]);
    expect(m.outputs[0]!.shape).toEqual([null, 8, 8, 4]);
    m.dispose();
  });

  it.each([
    {
      why: "stride 2",
      shape: [8, 8, 4] as [number, number, number],
      stride: 2,
      out: [null, 4, 4, 4],
    },
    {
      why: "more channels",
      shape: [8, 8, 4] as [number, number, number],
      stride: 1,
      out: [null, 8, 8, 6],
    },
    {
      why: "stride 2 on an odd map",
      shape: [7, 7, 4] as [number, number, number],
      stride: 2,
      out: [null, 4, 4, 6],
    },
  ])("projects the shortcut (conv1x1 + BN) for $why", ({ shape, stride, out }) => {
    const filters = out[3]!;
    const m = blockModel(shape, { filters, stride });
    const proj = m.getLayer("b_shortcut_conv");
    expect(proj.getConfig()).toMatchObject({
      kernelSize: [1, 1],
      strides: [stride, stride],
      useBias: false,
    });
    expect(proj.weights[0]!.shape).toEqual([1, 1, shape[2], filters]);
    expect(inbound(m, "b_shortcut_conv")).toEqual([m.layers[0]!.name]);
    expect(inbound(m, "b_shortcut_bn")).toEqual(["b_shortcut_conv"]);
    expect(inbound(m, "b_add")).toEqual(["b_bn2", "b_shortcut_bn"]);
    expect(m.getLayer("b_conv1").getConfig()).toMatchObject({ strides: [stride, stride] });
    expect(m.outputs[0]!.shape).toEqual(out);
    m.dispose();
  });

  it("pads symmetrically before a stride-2 conv, as PyTorch's padding=1 does", () => {
    const m = blockModel([8, 8, 2], { filters: 2, stride: 2 });
    expect(m.getLayer("b_pad1").getConfig()).toMatchObject({
      padding: [
        [1, 1],
        [1, 1],
      ],
    });
    expect(m.getLayer("b_conv1").getConfig()).toMatchObject({ padding: "valid" });
    expect(m.getLayer("b_conv2").getConfig()).toMatchObject({ padding: "same" });
    m.dispose();
  });

  it('builds the same block without the residual path for shortcut: "none"', () => {
    const m = blockModel([8, 8, 4], { filters: 8, stride: 2, shortcut: "none" });
    const names = m.layers.map((l) => l.name);
    expect(names.filter((n) => n.includes("shortcut") || n.endsWith("_add"))).toEqual([]);
    expect(inbound(m, "b_out")).toEqual(["b_bn2"]);
    m.dispose();
  });

  it("computes relu(main + x) with the identity shortcut", () => {
    const m = blockModel([4, 4, 3], { filters: 3, seed: 1 });
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, "float32", 7);
    // With bn2's gamma at 0 the main path is bn2's beta: out = relu(beta + x).
    const bn2 = m.getLayer("b_bn2");
    const beta = tf.tensor1d([0.5, -0.25, 0]);
    tf.tidy(() => bn2.setWeights([tf.zeros([3]), beta, tf.zeros([3]), tf.ones([3])]));
    tf.tidy(() => {
      const out = m.predict(x) as tf.Tensor;
      expectClose(out, tf.relu(tf.add(x, beta)), 1e-6, "identity block");
    });
    tf.dispose([x, beta]);
    m.dispose();
  });

  it("computes relu(main + BN(conv1x1 stride 2 (x))) with the projection", () => {
    const m = blockModel([4, 4, 2], { filters: 3, stride: 2, seed: 2 });
    const x = tf.randomNormal([1, 4, 4, 2], 0, 1, "float32", 8);
    tf.tidy(() => {
      m.getLayer("b_bn2").setWeights([tf.zeros([3]), tf.zeros([3]), tf.zeros([3]), tf.ones([3])]);
      const kernel = m.getLayer("b_shortcut_conv").weights[0]!.read() as tf.Tensor4D;
      // Eval-mode BN with fresh statistics (mean 0, var 1) scales by 1/sqrt(1 + eps).
      const expected = tf.relu(
        tf.div(tf.conv2d(x as tf.Tensor4D, kernel, 2, "valid"), Math.sqrt(1 + 1e-5)),
      );
      expectClose(m.predict(x) as tf.Tensor, expected, 1e-6, "projection block");
    });
    x.dispose();
    m.dispose();
  });

  it("is reproducible with a seed", () => {
    const a = blockModel([4, 4, 2], { filters: 2, seed: 3 });
    const b = blockModel([4, 4, 2], { filters: 2, seed: 3 });
    const c = blockModel([4, 4, 2], { filters: 2, seed: 4 });
    const kernel = (m: LayersModel) =>
      Array.from(m.getLayer("b_conv1").weights[0]!.read().dataSync());
    expect(kernel(a)).toEqual(kernel(b));
    expect(kernel(a)).not.toEqual(kernel(c));
    // conv1 and conv2 get different seeds, so they are not copies of each other.
    expect(kernel(a)).not.toEqual(Array.from(a.getLayer("b_conv2").weights[0]!.read().dataSync()));
    for (const m of [a, b, c]) m.dispose();
  });

  it("is reproducible with seed 0 too (tfjs reads an initialiser seed of 0 as unseeded)", () => {
    const a = smallResNet({ widths: [2, 4, 8], seed: 0 });
    const b = smallResNet({ widths: [2, 4, 8], seed: 0 });
    for (const name of ["stem_conv", "stage1_block1_conv1", "logits"]) {
      const w = (m: LayersModel) => Array.from(m.getLayer(name).weights[0]!.read().dataSync());
      expect(w(a), name).toEqual(w(b));
    }
    a.dispose();
    b.dispose();
    expect(() => smallResNet({ seed: -1 })).toThrow("seed: expected an integer ≥ 0, got -1");
  });

  it("names unnamed blocks uniquely", () => {
    const x = input({ shape: [4, 4, 2] });
    const y = resBlock(resBlock(x, { filters: 2 }), { filters: 2 });
    const m = model({ inputs: x, outputs: y });
    const outs = m.layers.map((l) => l.name).filter((n) => n.endsWith("_out"));
    expect(new Set(outs).size).toBe(2);
    m.dispose();
  });

  it.each([
    [{ filters: 0 }, "filters: expected a positive integer, got 0"],
    [{ filters: 4, stride: 1.5 }, "stride: expected a positive integer, got 1.5"],
    [{ filters: 4, shortcut: "identity" }, 'shortcut: expected "auto" or "none", got "identity"'],
    [{ filters: 4, batchNormMomentum: 1 }, "batchNormMomentum: expected a number in [0, 1)"],
  ])("refuses %o", (options, message) => {
    const x = input({ shape: [4, 4, 2] }) as SymbolicTensor;
    const call = () => resBlock(x, options as ResBlockOptions);
    expect(call).toThrow(ResNetError);
    expect(call).toThrow(message);
  });

  it("leaves no tensors behind when built and disposed", () => {
    const before = tf.memory().numTensors;
    blockModel([8, 8, 4], { filters: 8, stride: 2 }).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
