import * as tf from "@tensorflow/tfjs-core";
import { layers, models } from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { expectClose, useCpu } from "../test/helpers.js";
import { smallResNet } from "./small-resnet.js";
import { conv } from "./torch-layers.js";

beforeAll(useCpu);

describe("conv (a bias-free Conv2D on tf.conv2d)", () => {
  it.each([
    [3, 1, "same"],
    [3, 2, "valid"],
    [1, 2, "valid"],
  ] as const)(
    "equals tfjs's Conv2D in outputs and gradients (kernel %i, stride %i, %s)",
    (k, stride, padding) => {
      const ours = conv("ours", 5, k, stride, padding, 7);
      const theirs = layers.conv2d({
        filters: 5,
        kernelSize: k,
        strides: stride,
        padding,
        useBias: false,
      });
      const x = tf.randomNormal([2, 9, 9, 3], 0, 1, "float32", 1);
      ours.apply(x);
      theirs.apply(x);
      theirs.setWeights(ours.getWeights());
      for (const training of [false, true]) {
        const y = (l: typeof ours) => l.apply(x, { training }) as tf.Tensor;
        expectClose(y(ours), y(theirs), 1e-6, "outputs");
      }
      const loss = (l: typeof ours, input: tf.Tensor) =>
        tf.sum(tf.square(l.apply(input, { training: true }) as tf.Tensor)) as tf.Scalar;
      const grads = (l: typeof ours) => {
        const dx = tf.grad((input: tf.Tensor) => loss(l, input))(x);
        const kernel = l.trainableWeights[0]?.read() as tf.Variable;
        const { grads: g } = tf.variableGrads(() => loss(l, x), [kernel]);
        return [dx, g[kernel.name] as tf.Tensor];
      };
      const [dxOurs, dwOurs] = grads(ours);
      const [dxTheirs, dwTheirs] = grads(theirs);
      expectClose(dxOurs as tf.Tensor, dxTheirs as tf.Tensor, 1e-5, "input gradient");
      expectClose(dwOurs as tf.Tensor, dwTheirs as tf.Tensor, 1e-5, "filter gradient");
    },
  );

  it("serialises as the built-in Conv2D, which plain tfjs loads", () => {
    const model = smallResNet({ widths: [4, 8, 8], seed: 0 });
    const json = model.toJSON(null, false) as { config: { layers: { class_name: string }[] } };
    const classes = new Set(json.config.layers.map((l) => l.class_name));
    expect(classes.has("Conv2D")).toBe(true);
    const convs = model.layers.filter((l) => l.getClassName() === "Conv2D");
    expect(convs.length).toBeGreaterThan(0);
    return models.modelFromJSON(json as never).then((loaded) => {
      loaded.setWeights(model.getWeights());
      const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 2);
      expectClose(
        loaded.predict(x) as tf.Tensor,
        model.predict(x) as tf.Tensor,
        1e-5,
        "reloaded predictions",
      );
    });
  });

  it("a training step computes no gradient for the input images (the stem conv's)", async () => {
    const model = smallResNet({ widths: [4, 8, 8], seed: 0 });
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 3);
    const labels = tf.oneHot(tf.tensor1d([1, 7], "int32"), 10);
    const optimizer = tf.train.sgd(0.01);
    const info = await tf.profile(() => {
      optimizer.minimize(() =>
        tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor),
      );
    });
    const inputGrads = info.kernels.filter((k) => k.name === "Conv2DBackpropInput");
    const filterGrads = info.kernels.filter((k) => k.name === "Conv2DBackpropFilter");
    // Every conv's filter gets a gradient; every conv's input but the stem's (3 channels) too.
    expect(filterGrads.length).toBe(
      model.layers.filter((l) => l.getClassName() === "Conv2D").length,
    );
    expect(inputGrads.length).toBe(filterGrads.length - 1);
    expect(inputGrads.some((k) => k.inputShapes[1]?.[2] === 3)).toBe(false);
  });
});
