import * as tf from "@tensorflow/tfjs-core";
import {
  type LayersModel,
  type LayerVariable,
  loadLayersModel,
  models,
  type SymbolicTensor,
} from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { expectClose, maxScaledDiff, useCpu } from "../test/helpers.js";
import {
  BATCH_NORM_TRAINING_KERNELS,
  fastResNet,
  ResNetError,
  resNetBlocks,
  setWhiteningBiasTrainable,
  smallResNet,
  stageOutputNames,
  summarize,
  whiteningKernel,
} from "./index.js";

beforeAll(useCpu);

const NARROW = { widths: [8, 16, 16], seed: 3 } as const;
const names = (m: LayersModel) => m.layers.map((l) => l.name);
const trainableNames = (m: LayersModel) => m.trainableWeights.map((w) => w.originalName);
/** The engine's name of a layer weight's variable: the key of its gradient. */
const varName = (w: LayerVariable) => (w.read() as tf.Variable).name;

describe("fastResNet", () => {
  it.each([
    // widths, trainable, frozen (whitening kernel 288 + BN scales + BN statistics), multiply-adds;
    // PyTorch counts the same parameters (scripts/gen-fixtures.py prints them).
    [[64, 256, 256], 1_971_352, 3_744, 118_147_360],
    [[32, 128, 128], 497_240, 2_016, 33_066_272],
    [[24, 96, 96], 281_352, 1_584, 19_966_560],
  ])(
    "at widths %j: %i trainable parameters, %i frozen, %i multiply-adds per image",
    (widths, trainable, frozen, macs) => {
      const before = tf.memory().numTensors;
      const m = fastResNet({ widths });
      const s = summarize(m);
      expect(s.trainableParams).toBe(trainable);
      expect(s.nonTrainableParams).toBe(frozen);
      expect(s.multiplyAdds).toBe(macs);
      expect(m.inputs[0]!.shape).toEqual([null, 32, 32, 3]);
      expect(m.outputShape).toEqual([null, 10]);
      expect(m.name).toBe("fast_resnet");
      const [w1, w2, w3] = widths as [number, number, number];
      const shapes = Object.fromEntries(s.layers.map((l) => [l.name, l.outputShape]));
      expect(shapes).toMatchObject({
        stem_conv: [31, 31, 24],
        stage1_block1_conv1: [31, 31, w1],
        stage1_block1_out: [15, 15, w1],
        stage2_block1_conv1: [15, 15, w2],
        stage2_block1_out: [7, 7, w2],
        stage3_block1_out: [3, 3, w3],
        pool: [1, 1, w3],
        head: [10],
        logits: [10],
      });
      m.dispose();
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it("names its layers by the cnnkit contract, so block and stage helpers work on it", () => {
    const m = fastResNet(NARROW);
    const group = ["conv1", "pool1", "bn1", "gelu1", "conv2", "bn2", "gelu2", "out"];
    expect(names(m)).toEqual([
      "input",
      "stem_conv",
      "stem_gelu",
      ...[1, 2, 3].flatMap((s) => group.map((part) => `stage${s}_block1_${part}`)),
      "pool",
      "flatten",
      "head",
      "logits",
    ]);
    expect(stageOutputNames(m)).toEqual([
      "stage1_block1_out",
      "stage2_block1_out",
      "stage3_block1_out",
    ]);
    const blocks = resNetBlocks(m);
    expect(blocks.map((b) => b.projection)).toEqual([false, false, false]);
    expect(blocks[0]!.layerNames).toEqual(group.map((part) => `stage1_block1_${part}`));
    expect(m.getLayer("stage1_block1_out").getClassName()).toBe("Add");
    m.dispose();
  });

  it("residual: false drops each group's shortcut (airbench94's plain network)", () => {
    const before = tf.memory().numTensors;
    const res = fastResNet(NARROW);
    const plain = fastResNet({ ...NARROW, residual: false });
    expect(res.layers.filter((l) => l.getClassName() === "Add")).toHaveLength(3);
    expect(plain.layers.filter((l) => l.getClassName() === "Add")).toHaveLength(0);
    // The group's output is then its second GELU, still named `_out`.
    expect(plain.getLayer("stage2_block1_out").getConfig()).toMatchObject({ activation: "gelu" });
    expect(names(plain)).not.toContain("stage2_block1_gelu2");
    expect(summarize(plain).trainableParams).toBe(summarize(res).trainableParams);
    // Same seed, same weights, different graph: different outputs.
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 4);
    tf.tidy(() => {
      const a = res.predict(x) as tf.Tensor;
      const b = plain.predict(x) as tf.Tensor;
      expect(maxScaledDiff(a.dataSync(), b.dataSync())).toBeGreaterThan(1e-3);
      // and the sum is really h + gelu2: rebuild it from the layers' own outputs.
      const h = layerOutput(res, "stage1_block1_gelu1", x);
      const g = layerOutput(res, "stage1_block1_gelu2", x);
      expectClose(layerOutput(res, "stage1_block1_out", x), tf.add(h, g), 1e-6, "h + gelu2");
    });
    tf.dispose(x);
    res.dispose();
    plain.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("uses airbench's BatchNorm: gamma a frozen weight of ones, momentum 0.6, eps 1e-12", () => {
    const m = fastResNet(NARROW);
    const bns = m.layers.filter((l) => l.getClassName() === "BatchNormalization");
    expect(bns).toHaveLength(6);
    for (const bn of bns) {
      expect(bn.getConfig()).toMatchObject({
        momentum: 0.6,
        epsilon: 1e-12,
        scale: true,
        center: true,
      });
      const [gamma, beta, mean, variance] = bn.weights;
      // tfjs's order, as the built-in layer has it (getWeights/setWeights, reloads).
      expect(bn.weights.map((w) => w.originalName.split("/").at(-1))).toEqual([
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
      ]);
      expect([gamma, beta, mean, variance].map((w) => w!.trainable)).toEqual([
        false,
        true,
        false,
        false,
      ]);
      expect(Array.from(gamma!.read().dataSync())).toEqual(new Array(gamma!.shape[0]).fill(1));
    }
    expect(trainableNames(m).filter((n) => n.endsWith("/gamma"))).toEqual([]);
    expect(trainableNames(m).filter((n) => n.endsWith("/beta"))).toHaveLength(6);
    // Unfreezing the whole model or a layer leaves the frozen weights frozen.
    m.trainable = true;
    for (const bn of bns) bn.trainable = true;
    expect(
      trainableNames(m).filter((n) => n.endsWith("/gamma") || n === "stem_conv/kernel"),
    ).toEqual([]);
    m.dispose();
  });

  it("updates BN moving statistics as PyTorch with momentum 0.4: new = 0.6·old + 0.4·batch", () => {
    const m = fastResNet(NARROW);
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, "float32", 5);
    // The first BN: nothing with batch statistics before it, so its input is the same in
    // inference and in training.
    const bn = m.getLayer("stage1_block1_bn1");
    tf.tidy(() => {
      const input = layerInput(m, "stage1_block1_bn1", x); // [4, 15, 15, 8]: 900 values a channel
      const { mean, variance } = tf.moments(input, [0, 1, 2]);
      m.apply(x, { training: true });
      const [, , movingMean, movingVariance] = bn.weights;
      expectClose(movingMean!.read(), tf.mul(mean, 0.4), 1e-5, "moving mean");
      const unbiased = tf.mul(variance, 900 / 899);
      expectClose(
        movingVariance!.read(),
        tf.add(0.6, tf.mul(unbiased, 0.4)),
        1e-5,
        "moving variance",
      );
    });
    x.dispose();
    m.dispose();
  });

  it("keeps the fused BatchNorm training kernel with gamma frozen", () => {
    const calls: number[][] = [];
    const configs = [
      {
        kernelName: BATCH_NORM_TRAINING_KERNELS.forward,
        backendName: "cpu",
        kernelFunc: fakeBatchNormTraining(calls),
      },
      {
        kernelName: BATCH_NORM_TRAINING_KERNELS.gradient,
        backendName: "cpu",
        kernelFunc: () => {
          throw new Error("not used by a forward pass");
        },
      },
    ];
    for (const c of configs) tf.registerKernel(c as tf.KernelConfig);
    try {
      const m = fastResNet(NARROW);
      tf.tidy(() => {
        m.apply(tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 6), { training: true });
      });
      // One call per BN layer, each handed the frozen gamma (ones).
      expect(calls).toHaveLength(6);
      for (const gamma of calls) expect(gamma.every((g) => g === 1)).toBe(true);
      m.dispose();
    } finally {
      for (const c of configs) tf.unregisterKernel(c.kernelName, c.backendName);
    }
  });

  it("has a frozen whitening kernel and a trainable bias that setWhiteningBiasTrainable switches", () => {
    const before = tf.memory().numTensors;
    const m = fastResNet(NARROW);
    const stem = m.getLayer("stem_conv");
    expect(stem.getConfig()).toMatchObject({
      kernelSize: [2, 2],
      strides: [1, 1],
      padding: "valid",
      filters: 24,
      useBias: true,
    });
    expect(stem.weights.map((w) => [w.originalName, w.trainable])).toEqual([
      ["stem_conv/kernel", false],
      ["stem_conv/bias", true],
    ]);
    expect(trainableNames(m)[0]).toBe("stem_conv/bias");
    // As @cnnkit/backends' classifierGradients takes gradients: for model.trainableWeights, read
    // at each call.
    const x = tf.randomNormal([1, 32, 32, 3], 0, 1, "float32", 7);
    const gradNames = () =>
      tf.tidy(() => {
        const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
        const { grads } = tf.variableGrads(
          () => tf.mean(m.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
          vars,
        );
        const named = Object.keys(grads);
        const norm = grads[varName(stem.weights[1]!)];
        return { named, biasGradNorm: norm === undefined ? 0 : tf.norm(norm).dataSync()[0]! };
      });
    const on = gradNames();
    expect(on.named).toContain(varName(stem.weights[1]!));
    expect(on.named).not.toContain(varName(stem.weights[0]!));
    expect(on.biasGradNorm).toBeGreaterThan(0);
    setWhiteningBiasTrainable(m, false);
    expect(trainableNames(m)).not.toContain("stem_conv/bias");
    const off = gradNames();
    expect(off.named).toHaveLength(on.named.length - 1);
    expect(off.named).not.toContain(varName(stem.weights[1]!));
    setWhiteningBiasTrainable(m, true);
    expect(trainableNames(m)[0]).toBe("stem_conv/bias");
    expect(trainableNames(m)).not.toContain("stem_conv/kernel");
    const other = smallResNet({ widths: [4, 8, 16] });
    expect(() => setWhiteningBiasTrainable(other, false)).toThrow(ResNetError);
    other.dispose();
    tf.dispose(x);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("takes the whitening kernel as a tensor or its values, and defaults to white data's", () => {
    const before = tf.memory().numTensors;
    const images = tf.randomNormal([4, 16, 16, 3], 0, 1, "float32", 8);
    const kernel = whiteningKernel(images);
    const values = kernel.dataSync() as Float32Array;
    for (const whitening of [kernel, values, Array.from(values)]) {
      const m = fastResNet({ ...NARROW, whitening });
      const [k, b] = m.getLayer("stem_conv").getWeights();
      expect(Array.from(k!.dataSync())).toEqual(Array.from(values));
      expect(Array.from(b!.dataSync())).toEqual(new Array(24).fill(0)); // airbench zeroes it
      m.dispose();
    }
    expect(kernel.isDisposed).toBe(false);
    // Without images: each patch value (and its negative), scaled by 1/sqrt(1 + 5e-4).
    const m = fastResNet(NARROW);
    tf.tidy(() => {
      const k = tf.reshape(m.getLayer("stem_conv").getWeights()[0]!, [12, 24]);
      const scale = 1 / Math.sqrt(1 + 5e-4);
      const eye = tf.mul(tf.eye(12), scale);
      expectClose(k, tf.concat([eye, tf.neg(eye)], 1), 1e-7, "default whitening");
    });
    m.dispose();
    expect(() => fastResNet({ ...NARROW, whitening: new Float32Array(12) })).toThrow(
      'whitening: expected a kernel [2, 2, 3, 24]: a tensor, or 288 finite numbers in that layout, got "Float32Array(12)"',
    );
    const wrong = tf.zeros([2, 2, 3, 12]);
    expect(() => fastResNet({ ...NARROW, whitening: wrong })).toThrow(
      "whitening: expected a float32 kernel [2, 2, 3, 24] (whiteningKernel of 3-channel images), got float32 [2, 2, 3, 12]",
    );
    tf.dispose([images, kernel, wrong]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("initialises each 3×3 conv with the identity on its first channels (dirac_), PyTorch's uniform init elsewhere", () => {
    const before = tf.memory().numTensors;
    const m = fastResNet({ seed: 11 }); // widths 64, 256, 256
    const conv = m.getLayer("stage2_block1_conv1"); // 64 → 256
    const x = tf.randomNormal([1, 5, 5, 64], 0, 1, "float32", 9);
    tf.tidy(() => {
      const y = conv.apply(x) as tf.Tensor;
      // The first 64 output channels pass the input through exactly.
      expect(Array.from(tf.slice(y, [0, 0, 0, 0], [-1, -1, -1, 64]).dataSync())).toEqual(
        Array.from(x.dataSync()),
      );
      // The other 192 are U(±1/sqrt(9·64)) filters, not copies.
      const rest = tf.slice(conv.getWeights()[0]!, [0, 0, 0, 64], [-1, -1, -1, 192]);
      const limit = 1 / Math.sqrt(9 * 64);
      expect(tf.max(tf.abs(rest)).dataSync()[0]!).toBeLessThanOrEqual(limit);
      expect(tf.max(tf.abs(rest)).dataSync()[0]!).toBeGreaterThan(0.99 * limit);
      // A square conv (256 → 256) is the identity as a whole; a narrowing one (24 → 8 at
      // widths [8, …]) copies its first 8 input channels.
      const square = m.getLayer("stage2_block1_conv2");
      const z = tf.randomNormal([1, 4, 4, 256], 0, 1, "float32", 10);
      expect(Array.from((square.apply(z) as tf.Tensor).dataSync())).toEqual(
        Array.from(z.dataSync()),
      );
    });
    const narrow = fastResNet(NARROW);
    tf.tidy(() => {
      const conv1 = narrow.getLayer("stage1_block1_conv1");
      const z = tf.randomNormal([1, 4, 4, 24], 0, 1, "float32", 12);
      const y = conv1.apply(z) as tf.Tensor;
      expect(Array.from(y.dataSync())).toEqual(
        Array.from(tf.slice(z, [0, 0, 0, 0], [-1, -1, -1, 8]).dataSync()),
      );
    });
    // identityInit: false keeps PyTorch's init everywhere.
    const plainInit = fastResNet({ ...NARROW, identityInit: false });
    tf.tidy(() => {
      const w = plainInit.getLayer("stage1_block1_conv2").getWeights()[0]!;
      expect(tf.max(tf.abs(w)).dataSync()[0]!).toBeLessThanOrEqual(1 / Math.sqrt(9 * 8));
    });
    tf.dispose(x);
    for (const model of [m, narrow, plainInit]) model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("is reproducible with a seed", () => {
    const a = fastResNet(NARROW);
    const b = fastResNet(NARROW);
    const c = fastResNet({ ...NARROW, seed: 4 });
    const flat = (m: LayersModel) => m.getWeights().flatMap((w) => Array.from(w.dataSync()));
    expect(flat(b)).toEqual(flat(a));
    expect(flat(c)).not.toEqual(flat(a));
    for (const m of [a, b, c]) m.dispose();
  });

  it("applies GELU as PyTorch's nn.GELU(): x·Φ(x) with the exact erf, and its gradient Φ(x) + x·φ(x)", () => {
    const m = fastResNet(NARROW);
    const gelu = m.getLayer("stem_gelu");
    expect(gelu.getConfig()).toMatchObject({ activation: "gelu" });
    const xs = Array.from({ length: 161 }, (_, i) => -4 + i * 0.05);
    const x = tf.tensor1d(xs);
    tf.tidy(() => {
      const y = (gelu.apply(x) as tf.Tensor).dataSync();
      const dy = tf
        .grad((t: tf.Tensor) => gelu.apply(t) as tf.Tensor)(x)
        .dataSync();
      xs.forEach((v, i) => {
        const cdf = 0.5 * (1 + erf(v / Math.SQRT2));
        const pdf = Math.exp((-v * v) / 2) / Math.sqrt(2 * Math.PI);
        // tfjs's erf kernel is a rational approximation good to ~1e-7.
        expect(Math.abs(y[i]! - v * cdf), `gelu(${v})`).toBeLessThan(1e-6);
        expect(Math.abs(dy[i]! - (cdf + v * pdf)), `gelu'(${v})`).toBeLessThan(1e-6);
      });
      // Not the tanh approximation ("gelu_new"), which is off by up to ~5e-4 here.
      const tanhForm = (v: number) =>
        0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
      const worst = Math.max(...xs.map((v, i) => Math.abs(y[i]! - tanhForm(v))));
      expect(worst).toBeGreaterThan(1e-4);
    });
    x.dispose();
    m.dispose();
  });

  it("round-trips through toJSON → models.modelFromJSON with only tfjs's built-in classes", async () => {
    const before = tf.memory().numTensors;
    const m = fastResNet({ ...NARROW, logitScale: 0.25 });
    const topology = m.toJSON(null, false) as {
      config: { layers: { class_name: string; config: Record<string, unknown> }[] };
    };
    const classes = new Set(topology.config.layers.map((l) => l.class_name));
    expect([...classes].sort()).toEqual([
      "Activation",
      "Add",
      "BatchNormalization",
      "Conv2D",
      "Dense",
      "Flatten",
      "InputLayer",
      "MaxPooling2D",
      "Rescaling",
    ]);
    const rebuilt = await models.modelFromJSON({ modelTopology: topology } as never);
    // Layer by layer, in the order getWeights gives (the frozen weights keep tfjs's order).
    for (const layer of m.layers) rebuilt.getLayer(layer.name).setWeights(layer.getWeights());
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 13);
    tf.tidy(() => {
      for (const training of [false, true]) {
        const a = m.apply(x, { training }) as tf.Tensor;
        const b = rebuilt.apply(x, { training }) as tf.Tensor;
        expectClose(b, a, 1e-6, `rebuilt logits, training ${training}`);
      }
      expect(rebuilt.getLayer("logits").getConfig()).toMatchObject({ scale: 0.25, offset: 0 });
    });
    // And through save → loadLayersModel, which matches weights by name.
    let artifacts: tf.io.ModelArtifacts | undefined;
    await m.save(
      tf.io.withSaveHandler(async (a: tf.io.ModelArtifacts) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
      }),
    );
    const loaded = await loadLayersModel(tf.io.fromMemory(artifacts!));
    tf.tidy(() => {
      expectClose(loaded.predict(x) as tf.Tensor, m.predict(x) as tf.Tensor, 1e-6, "loaded logits");
    });
    tf.dispose(x);
    for (const model of [m, rebuilt, loaded]) model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [{ widths: [64, 256] }, "widths: expected 3 stage widths for fast_resnet, got [64,256]"],
    [{ residual: "yes" }, 'residual: expected a boolean, got "yes"'],
    [{ identityInit: 1 }, "identityInit: expected a boolean, got 1"],
    [{ logitScale: 0 }, "logitScale: expected a finite non-zero number, got 0"],
    [
      { inputShape: [16, 16, 3] },
      "inputShape: expected [height ≥ 25, width ≥ 25, channels], got [16,16,3]",
    ],
    [{ batchNormMomentum: 1 }, "batchNormMomentum: expected a number in [0, 1)"],
  ])("refuses %o", (options, message) => {
    const call = () => fastResNet(options as never);
    expect(call).toThrow(ResNetError);
    expect(call).toThrow(message);
  });

  it("leaves no tensors behind", () => {
    const before = tf.memory().numTensors;
    fastResNet({ ...NARROW, whitening: new Float32Array(288).fill(0.5) }).dispose();
    fastResNet({ widths: [64, 256, 256] }).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** The output of `name` for input `x` (inference mode). */
function layerOutput(m: LayersModel, name: string, x: tf.Tensor): tf.Tensor {
  return m.execute(x, (m.getLayer(name).output as SymbolicTensor).name) as tf.Tensor;
}

/** The input of layer `name` (inference mode), for a single-input layer. */
function layerInput(m: LayersModel, name: string, x: tf.Tensor): tf.Tensor {
  const inbound = m.getLayer(name).inboundNodes[0]!.inboundLayers[0]!;
  return layerOutput(m, inbound.name, x);
}

/** erf in float64 by its Maclaurin series (|x| ≤ 3 here: at most ~1e-13 lost to cancellation). */
function erf(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 100; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** A cpu CnnkitBatchNormTraining that records gamma and computes y, mean, biased variance. */
function fakeBatchNormTraining(calls: number[][]) {
  return (({ inputs, backend, attrs }) => {
    const b = backend as unknown as {
      readSync(id: tf.DataId): Float32Array;
      makeTensorInfo(shape: number[], dtype: "float32", values: Float32Array): tf.TensorInfo;
    };
    const { x, gamma, beta } = inputs as Record<"x" | "gamma" | "beta", tf.TensorInfo>;
    const eps = (attrs as { epsilon: number }).epsilon;
    const xs = b.readSync(x.dataId);
    const g = b.readSync(gamma.dataId);
    const be = b.readSync(beta.dataId);
    calls.push(Array.from(g));
    const c = x.shape.at(-1)!;
    const count = xs.length / c;
    const mean = new Float32Array(c);
    const variance = new Float32Array(c);
    for (let i = 0; i < xs.length; i++) mean[i % c]! += xs[i]! / count;
    for (let i = 0; i < xs.length; i++) variance[i % c]! += (xs[i]! - mean[i % c]!) ** 2 / count;
    const y = new Float32Array(xs.length);
    for (let i = 0; i < xs.length; i++) {
      const k = i % c;
      y[i] = ((xs[i]! - mean[k]!) / Math.sqrt(variance[k]! + eps)) * g[k]! + be[k]!;
    }
    return [
      b.makeTensorInfo([...x.shape], "float32", y),
      b.makeTensorInfo([c], "float32", mean),
      b.makeTensorInfo([c], "float32", variance),
    ];
  }) as tf.KernelFunc;
}
