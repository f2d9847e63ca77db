import { smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import { type LayersModel, loadLayersModel } from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectAllClose, linearModel, numbers, useCpu } from "../test/helpers.js";
import { splitModel } from "./graph.js";
import { ExplainError, gradCam, gradCamMaps } from "./index.js";

let resnet: LayersModel;

beforeAll(async () => {
  await useCpu();
  resnet = smallResNet({ widths: [4, 8, 16], seed: 1 });
});
afterAll(() => resnet.dispose());

function images(n: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(numbers(n * 32 * 32 * 3, seed), [n, 32, 32, 3]);
}

/** ReLU then divide by the maximum, as Grad-CAM does (zeros stay zeros). */
function normalise(cam: number[]): number[] {
  const relu = cam.map((v) => Math.max(0, v));
  const peak = Math.max(...relu);
  return relu.map((v) => (peak > 0 ? v / peak : 0));
}

describe("gradCam", () => {
  it("has the closed form of a model linear in the input", () => {
    // features = x·K per pixel, logits = mean over pixels of features · W + b, so the class
    // logit's gradient w.r.t. features[i, j, k] is W[k, c] / 16 everywhere, and the map is
    // ReLU(Σₖ W[k, c] / 16 · features[i, j, k]) / max.
    const { model, kernel, dense } = linearModel(4, 4, 2, 3, 2);
    const x = tf.tensor4d(numbers(2 * 4 * 4 * 2, 3), [2, 4, 4, 2]);
    const xs = x.dataSync();
    const before = tf.memory().numTensors;
    const result = gradCamMaps(model, x, { layer: "features", classIndex: [0, 1] });
    expect(tf.memory().numTensors).toBe(before);
    expect(result).toMatchObject({ layer: "features", height: 4, width: 4, classIndex: [0, 1] });
    for (let n = 0; n < 2; n++) {
      const c = n; // classIndex [0, 1]
      const cam: number[] = [];
      for (let p = 0; p < 16; p++) {
        let v = 0;
        for (let k = 0; k < 3; k++) {
          let feature = 0;
          for (let i = 0; i < 2; i++) feature += xs[(n * 16 + p) * 2 + i]! * kernel[i * 3 + k]!;
          v += (dense[k * 2 + c]! / 16) * feature;
        }
        cam.push(v);
      }
      expectAllClose(result.maps[n]!, normalise(cam), 1e-5, `image ${n}`);
    }
    x.dispose();
    model.dispose();
  });

  it("equals CAM at a ResNet's last stage, whose head is average pool + dense", () => {
    const x = images(3, 5);
    const before = tf.memory().numTensors;
    const result = gradCamMaps(resnet, x);
    expect(tf.memory().numTensors).toBe(before);
    expect(result.layer).toBe("stage3_block2_out");
    expect([result.height, result.width]).toEqual([8, 8]);
    expect(result.maps).toHaveLength(3);

    const logits = resnet.predict(x) as tf.Tensor2D;
    const predicted = Array.from(tf.tidy(() => tf.argMax(logits, 1)).dataSync());
    const probs = tf.tidy(() => tf.softmax(logits).arraySync()) as number[][];
    expect(result.predicted).toEqual(predicted);
    expect(result.classIndex).toEqual(predicted);
    expectAllClose(
      result.probability,
      predicted.map((c, i) => probs[i]![c]!),
      1e-6,
      "probability",
    );
    const features = tf.tidy(() => {
      const { activation } = splitModel(resnet, "stage3_block2_out", "test").prefix(x);
      return activation.arraySync() as number[][][][];
    });
    const w = resnet.getLayer("logits").getWeights()[0]!.arraySync() as number[][]; // [16, 10]
    for (let n = 0; n < 3; n++) {
      const c = predicted[n]!;
      const cam = features[n]!.flat().map((pixel) =>
        pixel.reduce((s, v, k) => s + v * w[k]![c]!, 0),
      );
      expectAllClose(result.maps[n]!, normalise(cam), 1e-5, `image ${n}`);
      expect(Math.max(...result.maps[n]!)).toBeCloseTo(1, 6);
    }
    tf.dispose([x, logits]);
  });

  // stage2_block2_out: the head is two blocks; stage2_block1_relu1: a layer the block's
  // projection shortcut bypasses, so the head also reads the (constant) shortcut branch.
  it.each(["stage2_block2_out", "stage2_block1_relu1"])(
    "weights channels by the spatially averaged gradient through a non-linear head (%s)",
    (layer) => {
      // αₖ = mean over (i, j) of ∂y/∂A[i, j, k] is the derivative of y along "add ε to every
      // pixel of channel k" divided by h·w: check it by central differences.
      const x = images(1, 9);
      const c = 4;
      const { alpha, fd, features } = tf.tidy(() => {
        const split = splitModel(resnet, layer, "test");
        const { activation } = split.prefix(x);
        const [, h, w, k] = activation.shape as number[];
        const score = (a: tf.Tensor) => tf.sum(tf.mul(split.head(a), tf.oneHot([c], 10)));
        const grads = tf.grad(score)(activation);
        const alpha = Array.from(tf.mean(grads, [0, 1, 2]).dataSync());
        const eps = 1e-3;
        const fd = Array.from({ length: k! }, (_, ch) => {
          const bump = tf.mul(tf.reshape(tf.oneHot([ch], k!), [1, 1, 1, k!]), eps);
          const up = score(tf.add(activation, bump)).dataSync()[0]!;
          const down = score(tf.sub(activation, bump)).dataSync()[0]!;
          return (up - down) / (2 * eps) / (h! * w!);
        });
        return { alpha, fd, features: activation.arraySync() as number[][][][] };
      });
      // Central differences in float32, with ReLUs in the head that a step can flip: a 1e-2
      // step flipped enough of them to miss by 5% of the largest α at some seeds; with 1e-3 the
      // miss measured 0.01–1.4% over seeds 1–4. 3% still catches a wrong gradient (a max in
      // place of the mean, or another class's gradient, is off by far more).
      const largest = Math.max(...alpha.map(Math.abs));
      expect(largest).toBeGreaterThan(1e-4);
      expectAllClose(alpha, fd, 0.03 * largest, "α vs central differences");

      const before = tf.memory().numTensors;
      const maps = gradCam(resnet, x, { layer, classIndex: c });
      expect(tf.memory().numTensors).toBe(before);
      expect(maps).toHaveLength(1);
      const cam = features[0]!
        .flat()
        .map((pixel) => pixel.reduce((s, v, k) => s + v * alpha[k]!, 0));
      expectAllClose(maps[0]!, normalise(cam), 1e-5, "map from the checked α");
      x.dispose();
    },
  );

  it("recomputes a cut layer's head exactly, even where a shortcut bypasses it", () => {
    const x = images(2, 13);
    const logits = resnet.predict(x) as tf.Tensor;
    for (const layer of ["stem_conv", "stage1_block1_relu1", "stage2_block1_bn2", "logits"]) {
      const again = tf.tidy(() => {
        const split = splitModel(resnet, layer, "test");
        const { activation, logits: prefixLogits } = split.prefix(x);
        expectAllClose(prefixLogits.dataSync(), logits.dataSync(), 1e-5, `${layer} prefix`);
        return split.head(tf.add(activation, 0)).dataSync();
      });
      expectAllClose(again, logits.dataSync(), 1e-5, `${layer} head`);
    }
    tf.dispose([x, logits]);
  });

  it("explains a model reloaded from its saved artifacts the same way", async () => {
    let saved: tf.io.ModelArtifacts | undefined;
    await resnet.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
      }),
    );
    const reloaded = await loadLayersModel(tf.io.fromMemory(saved!));
    const x = images(2, 31);
    const options = { layer: "stage2_block1_relu1" };
    const a = gradCamMaps(resnet, x, options);
    const b = gradCamMaps(reloaded, x, options);
    expect(b.predicted).toEqual(a.predicted);
    a.maps.forEach((map, i) => {
      expectAllClose(b.maps[i]!, map, 1e-5, `image ${i}`);
    });
    reloaded.dispose();
    x.dispose();
  });

  it("names the unknown layer, and rejects bad images and classes", () => {
    const x = images(2, 1);
    const before = tf.memory().numTensors;
    const call = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as ExplainError;
      }
      throw new Error("expected an error");
    };
    const unknown = call(() => gradCam(resnet, x, { layer: "stage9_block1_out" }));
    expect(unknown).toBeInstanceOf(ExplainError);
    expect(unknown.code).toBe("unknown_layer");
    expect(unknown.message).toContain('"stage9_block1_out"');
    const pooled = call(() => gradCam(resnet, x, { layer: "pool" }));
    expect(pooled.code).toBe("invalid_option");
    expect(pooled.message).toMatch(
      /"pool" to output \[N, height, width, channels\], got shape \[2, 16\]/,
    );
    const classes = call(() => gradCam(resnet, x, { classIndex: [1] }));
    expect(classes.message).toMatch(/classIndex: expected an integer in \[0, 10\) or 2 of them/);
    expect(call(() => gradCam(resnet, x, { classIndex: 10 })).code).toBe("invalid_option");
    const small = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
    const shape = call(() => gradCam(resnet, small));
    expect(shape.message).toContain(
      "expected shape [N, 32, 32, 3] (the model's input), got [1, 16, 16, 3]",
    );
    const { model } = linearModel();
    const four = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
    const plain = call(() => gradCam(model, four));
    expect(plain.code).toBe("not_a_resnet");
    expect(plain.message).toContain("pass options.layer");
    model.dispose();
    tf.dispose([small, four]);
    // Failing calls release what they made before throwing.
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
