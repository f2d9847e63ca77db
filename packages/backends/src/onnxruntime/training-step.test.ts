import "@tensorflow/tfjs-backend-cpu";
import { fastResNet, smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
// tf.variableGrads needs the gradient functions, which tfjs-core alone does not register.
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { BackendError } from "../errors.js";
import { type GraphModel, trainingGraph } from "./training-graph.js";
import { onnxRuntimeTrainingStep } from "./training-step.js";

// Gradients are compared by relative norm, |a − b| / max(|b|, 1e-2): a convolution's bias just
// before a BatchNorm has a gradient of zero in exact arithmetic (the norm removes the mean), and
// both sides return rounding noise there (~1e-9 in tfjs, ~3e-7 here: a sum of 600 terms that cancel). At these batch sizes no ReLU input
// lies within float32 rounding of zero; at batch 64 one occasionally does, and the two sides
// then take different branches of the kink (the gradient's norm moves by ~1e-3: measured, and
// the reason the batches here are small).
const RTOL = 1e-4;

function relative(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => {
    const den = Math.max(tf.norm(b).dataSync()[0] as number, 1e-2);
    return (tf.norm(tf.sub(a, b)).dataSync()[0] as number) / den;
  });
}

/** A user's model of plain tf.layers, with channel counts that are no multiple of a block. */
function plainModel(): tfl.LayersModel {
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  const x = tfl.input({ shape: [12, 12, 3] });
  const conv = (
    filters: number,
    k: number,
    s: number,
    padding: "same" | "valid",
    seed: number,
    more = {},
  ) =>
    tfl.layers.conv2d({
      filters,
      kernelSize: k,
      strides: s,
      padding,
      kernelInitializer: init(seed),
      biasInitializer: "ones",
      ...more,
    });
  // 10 channels out of the image: ONNX Runtime's ReorderInput takes multiples of 4 only.
  let y = conv(10, 3, 1, "same", 1, { activation: "relu" }).apply(x) as tfl.SymbolicTensor;
  y = tfl.layers
    .batchNormalization({ epsilon: 1e-3, momentum: 0.9 })
    .apply(y) as tfl.SymbolicTensor;
  // 36 channels into the last conv: its filter gradient interleaves 18 of them along the width,
  // in two groups (filterGradInterleave), where the other models' layers take all in one.
  const a = conv(36, 3, 2, "same", 2).apply(y) as tfl.SymbolicTensor;
  const b = conv(36, 1, 2, "valid", 3, { useBias: false }).apply(y) as tfl.SymbolicTensor;
  let z = tfl.layers.add().apply([a, b]) as tfl.SymbolicTensor;
  z = tfl.layers.reLU().apply(z) as tfl.SymbolicTensor;
  z = tfl.layers
    .zeroPadding2d({
      padding: [
        [0, 1],
        [1, 0],
      ],
    })
    .apply(z) as tfl.SymbolicTensor;
  z = conv(16, 3, 1, "valid", 4).apply(z) as tfl.SymbolicTensor;
  // tfjs-layers cannot train a BatchNormalization without scale or center (it reads both).
  z = tfl.layers.batchNormalization({}).apply(z) as tfl.SymbolicTensor;
  z = tfl.layers.globalAveragePooling2d({}).apply(z) as tfl.SymbolicTensor;
  z = tfl.layers.dense({ units: 10, kernelInitializer: init(5) }).apply(z) as tfl.SymbolicTensor;
  return tfl.model({ inputs: x, outputs: z });
}

const variables = (m: tfl.LayersModel) =>
  m.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());

/** tfjs's own loss and gradients of a training forward pass (it updates moving statistics too). */
function reference(m: tfl.LayersModel, x: tf.Tensor, labels: tf.Tensor1D) {
  return tf.variableGrads(() => {
    const logits = m.apply(x, { training: true }) as tf.Tensor;
    return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 10), logits) as tf.Scalar;
  }, variables(m));
}

const batchOf = (m: tfl.LayersModel, n: number, seed: number) => {
  const shape = m.inputs[0]?.shape.slice(1) as number[];
  return {
    x: tf.randomNormal([n, ...shape], 0, 1, "float32", seed),
    labels: tf.tensor1d(
      Array.from({ length: n }, (_, i) => (i * 7 + seed) % 10),
      "int32",
    ),
  };
};

describe("onnxRuntimeTrainingStep", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it.each([
    [
      "SmallResNet 8/16 (ZeroPadding2D + stride 2, projection shortcut)",
      () => smallResNet({ widths: [8, 16], seed: 3, inputShape: [16, 16, 3] }),
    ],
    [
      "plain tf.layers (10 and 36 channels, biases, relu, 1x1, valid, asymmetric padding)",
      plainModel,
    ],
    [
      "fastResNet 8/16/16 (frozen whitening stem, GELU, max-pooling 31->15 and 3->1, Rescaling)",
      () => fastResNet({ widths: [8, 16, 16], seed: 4 }),
    ],
    [
      "the README's tf.sequential model",
      () =>
        tfl.sequential({
          layers: [
            tfl.layers.conv2d({
              inputShape: [10, 10, 3],
              filters: 16,
              kernelSize: 3,
              activation: "relu",
            }),
            tfl.layers.globalAveragePooling2d({}),
            tfl.layers.dense({ units: 10 }),
          ],
        }),
    ],
  ])("%s: loss and every gradient equal tfjs's", async (_name, build) => {
    const model = build();
    // Batch 4 takes the filter gradients' per-tap products, 16 (whole blocks of images, with a
    // block of 8 or 16) their one-convolution form: both are checked.
    for (const batch of [4, 16]) {
      const { x, labels } = batchOf(model, batch, 1);
      const train = await onnxRuntimeTrainingStep(model, { batchSize: batch, threads: 2 });
      const { loss, grads } = await train.gradients(x, labels);
      const ref = reference(model, x, labels);
      expect(Math.abs(loss - (ref.value.dataSync()[0] as number))).toBeLessThan(1e-5);
      const names = variables(model).map((v) => v.name);
      expect(Object.keys(grads).sort()).toEqual([...names].sort());
      expect(train.variables.length).toBe(names.length);
      for (const name of names) {
        const g = grads[name] as tf.Tensor;
        expect(g.shape, name).toEqual((ref.grads[name] as tf.Tensor).shape);
        expect(relative(g, ref.grads[name] as tf.Tensor), `${name} at batch ${batch}`).toBeLessThan(
          RTOL,
        );
      }
      tf.dispose([grads, ref.grads, ref.value, x, labels]);
      train.dispose();
    }
  });

  it("computes the filter gradients of whole blocks of images as convolutions, others per tap", () => {
    const model = smallResNet({ widths: [8, 16], seed: 3, inputShape: [16, 16, 3] });
    const count = (batchSize: number, blockSize: number) => {
      const { graph } = trainingGraph(model as unknown as GraphModel, { batchSize, blockSize });
      return {
        products: graph.nodes.filter((n) => n.op === "FusedMatMul").length,
        filterConvs: graph.nodes.filter(
          (n) => n.op === "Conv" && (n.attributes?.dilations as number[] | undefined) !== undefined,
        ).length,
      };
    };
    const convs = model.layers.filter((l) => l.getClassName() === "Conv2D").length;
    // The stem reads the image (3 channels, no blocked layout): its 9 taps stay products.
    expect(count(16, 16)).toEqual({ products: 9, filterConvs: convs - 1 });
    expect(count(24, 8)).toEqual({ products: 9, filterConvs: convs - 1 });
    expect(count(24, 16).filterConvs).toBe(0);
    expect(count(4, 8).filterConvs).toBe(0);
  });

  it("updates the BatchNorm moving statistics as tfjs's training forward pass does", async () => {
    // Two identical models: one steps on ONNX Runtime, the other runs tfjs's forward pass.
    for (const build of [
      () => smallResNet({ widths: [8, 16], seed: 5, inputShape: [16, 16, 3] }),
      plainModel,
    ]) {
      const a = build();
      const b = build();
      b.setWeights(a.getWeights());
      const { x, labels } = batchOf(a, 4, 2);
      const train = await onnxRuntimeTrainingStep(a, { batchSize: 4, threads: 2 });
      tf.dispose((await train.gradients(x, labels)).grads);
      tf.dispose(b.apply(x, { training: true }) as tf.Tensor);
      const moving = (m: tfl.LayersModel) =>
        m.weights.filter((w) => /moving_(mean|variance)/.test(w.name));
      const [ma, mb] = [moving(a), moving(b)];
      expect(ma.length).toBeGreaterThan(0);
      ma.forEach((w, i) => {
        const diff = tf.tidy(
          () => tf.norm(tf.sub(w.read(), (mb[i] as typeof w).read())).dataSync()[0],
        );
        expect(diff, w.name).toBeLessThan(
          1e-5 * Math.max(1, tf.norm(w.read()).dataSync()[0] as number),
        );
      });
      // …and the statistics moved: a forward pass in training mode changes them.
      expect(tf.norm(ma[0]?.read() as tf.Tensor).dataSync()[0]).toBeGreaterThan(0);
      tf.dispose([x, labels]);
      train.dispose();
    }
  });

  it("trains along tfjs's loss curve with a tf.train optimizer", async () => {
    const a = smallResNet({ widths: [8, 16], seed: 7, inputShape: [16, 16, 3] });
    const b = smallResNet({ widths: [8, 16], seed: 7, inputShape: [16, 16, 3] });
    const { x, labels } = batchOf(a, 4, 3);
    const train = await onnxRuntimeTrainingStep(a, { batchSize: 4, threads: 2 });
    const [oa, ob] = [tf.train.momentum(0.05, 0.9), tf.train.momentum(0.05, 0.9)];
    const ours: number[] = [];
    const theirs: number[] = [];
    const start = tf.memory().numTensors;
    for (let i = 0; i < 6; i++) {
      ours.push(await train.step(oa, x, labels));
      const loss = ob.minimize(
        () =>
          tf.losses.softmaxCrossEntropy(
            tf.oneHot(labels, 10),
            b.apply(x, { training: true }) as tf.Tensor,
          ) as tf.Scalar,
        true,
        variables(b),
      ) as tf.Scalar;
      theirs.push(loss.dataSync()[0] as number);
      loss.dispose();
    }
    // The loss falls (the same batch six times), and along tfjs's own curve.
    expect(ours[5]).toBeLessThan((ours[0] as number) * 0.9);
    for (const [i, l] of ours.entries()) {
      expect(Math.abs(l - (theirs[i] as number)), `step ${i}`).toBeLessThan(1e-4 * Math.max(1, l));
    }
    // Steps leak no tensors (the gradients are disposed after the update).
    const after = tf.memory().numTensors;
    await train.step(oa, x, labels);
    expect(tf.memory().numTensors).toBe(after);
    expect(after).toBeGreaterThanOrEqual(start);
    tf.dispose([x, labels]);
    train.dispose();
  });

  it("applies label smoothing to the targets, and counts the images it gets right", async () => {
    const model = plainModel();
    const { x } = batchOf(model, 4, 4);
    // Labels that the model's current guess gets right for the first three images only.
    const guess = tf.tidy(() => tf.argMax(model.apply(x, { training: true }) as tf.Tensor, 1));
    const g = Array.from(guess.dataSync());
    const labels = tf.tensor1d(
      g.map((k, i) => (i < 3 ? k : (k + 1) % 10)),
      "int32",
    );
    guess.dispose();
    const eps = 0.2;
    const train = await onnxRuntimeTrainingStep(model, {
      batchSize: 4,
      threads: 2,
      labelSmoothing: eps,
    });
    const { loss, correct, grads } = await train.gradients(x, labels);
    expect(correct).toBe(3);
    const ref = tf.variableGrads(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor;
      return tf.losses.softmaxCrossEntropy(
        tf.oneHot(labels, 10),
        logits,
        undefined,
        eps,
      ) as tf.Scalar;
    }, variables(model));
    expect(Math.abs(loss - (ref.value.dataSync()[0] as number))).toBeLessThan(1e-5);
    for (const [name, g] of Object.entries(grads)) {
      expect(relative(g, ref.grads[name] as tf.Tensor), name).toBeLessThan(RTOL);
    }
    tf.dispose([grads, ref.grads, ref.value, x, labels]);
    train.dispose();
  });

  it("refuses what it cannot run, in one line naming it", async () => {
    const x = tfl.input({ shape: [8, 8, 3] });
    let y = tfl.layers
      .conv2d({ filters: 8, kernelSize: 3, name: "c1" })
      .apply(x) as tfl.SymbolicTensor;
    y = tfl.layers
      .averagePooling2d({ poolSize: 2, name: "pool_here" })
      .apply(y) as tfl.SymbolicTensor;
    y = tfl.layers.flatten().apply(y) as tfl.SymbolicTensor;
    y = tfl.layers.dense({ units: 10 }).apply(y) as tfl.SymbolicTensor;
    const err = await onnxRuntimeTrainingStep(tfl.model({ inputs: x, outputs: y }), {
      batchSize: 2,
    }).catch((e) => e);
    expect(BackendError.isInstance(err) && err.code).toBe("unsupported_layer");
    expect(String(err.message)).toMatch(
      /"pool_here" \(AveragePooling2D\) is not supported.*supported: InputLayer, Conv2D/,
    );

    const probs = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 8, kernelSize: 3 }),
        tfl.layers.globalAveragePooling2d({}),
        tfl.layers.dense({ units: 10, activation: "softmax", name: "probs" }),
      ],
    });
    await expect(onnxRuntimeTrainingStep(probs, { batchSize: 2 })).rejects.toThrow(
      /"probs": ends in a softmax.*must output logits/,
    );
    await expect(onnxRuntimeTrainingStep(plainModel(), { batchSize: 0 })).rejects.toThrow(
      /batchSize/,
    );
    await expect(
      onnxRuntimeTrainingStep(plainModel(), { batchSize: 2, labelSmoothing: 1 }),
    ).rejects.toThrow(/labelSmoothing/);

    const model = plainModel();
    const train = await onnxRuntimeTrainingStep(model, { batchSize: 2, threads: 1 });
    const wrongBatch = tf.zeros([3, 12, 12, 3]);
    await expect(train.gradients(wrongBatch, tf.tensor1d([0, 1, 2], "int32"))).rejects.toThrow(
      /expected images \[2, 12, 12, 3\].*got \[3, 12, 12, 3\]/,
    );
    const images = tf.zeros([2, 12, 12, 3]);
    await expect(train.gradients(images, tf.tensor1d([0, 10], "int32"))).rejects.toThrow(
      /label 1 is 10/,
    );
    await expect(train.gradients(images, tf.zeros([2, 3]))).rejects.toThrow(
      /expected labels \[2\]/,
    );
    train.dispose();
    await expect(train.gradients(images, tf.tensor1d([0, 1], "int32"))).rejects.toThrow(
      /after dispose/,
    );
    tf.dispose([wrongBatch, images]);
  });
});
