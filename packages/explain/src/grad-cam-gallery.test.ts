import { smallResNet } from "@cnnkit/resnet";
import { decodePNG, overlayHeatmap } from "@cnnkit/viz";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { numbers, useCpu } from "../test/helpers.js";
import { ExplainError, gradCamGallery, gradCamMaps } from "./index.js";

const CLASSES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
const MEAN = [0.49, 0.48, 0.45];
const STD = [0.25, 0.24, 0.26];
const normalize = { mean: MEAN, std: STD };

let resnet: LayersModel;
const split = {
  images: Uint8Array.from(numbers(3 * 3072, 17), (v) => Math.floor((v + 1) * 128)),
  labels: Uint8Array.from([3, 5, 8]),
  length: 3,
};

beforeAll(async () => {
  await useCpu();
  resnet = smallResNet({ widths: [4, 8, 16], seed: 1 });
});
afterAll(() => resnet.dispose());

/** The PNG images embedded in an SVG, in document order. */
function embedded(svg: string) {
  return [...svg.matchAll(/href="data:image\/png;base64,([^"]+)"/g)].map((m) =>
    decodePNG(Uint8Array.from(Buffer.from(m[1]!, "base64"))),
  );
}

/** Dataset image i normalised by hand, as a [1, 32, 32, 3] tensor. */
function normalised(i: number): tf.Tensor4D {
  const data = Float32Array.from(
    split.images.subarray(i * 3072, (i + 1) * 3072),
    (v, p) => (v / 255 - MEAN[p % 3]!) / STD[p % 3]!,
  );
  return tf.tensor4d(data, [1, 32, 32, 3]);
}

describe("gradCamGallery", () => {
  it("pairs each image with its Grad-CAM overlay, captioned and bordered", () => {
    const before = tf.memory().numTensors;
    const picture = gradCamGallery(resnet, split, [2, 0], { classNames: CLASSES, normalize });
    expect(tf.memory().numTensors).toBe(before);
    const svg = picture.toSVG();
    expect(svg).toContain("Grad-CAM on stage3_block2_out (predicted class)");
    const tiles = embedded(svg);
    expect(tiles).toHaveLength(4);
    [2, 0].forEach((index, j) => {
      const image = {
        data: split.images.slice(index * 3072, (index + 1) * 3072),
        width: 32,
        height: 32,
      };
      const x = normalised(index);
      const cam = gradCamMaps(resnet, x);
      x.dispose();
      const overlay = overlayHeatmap(image, cam.maps[0]!, { heatShape: [8, 8], min: 0, max: 1 });
      // Tiles are upscaled 3× (nearest) for a 32×32 image: sample each block's corner.
      const [plain, heat] = [tiles[2 * j]!, tiles[2 * j + 1]!];
      expect([heat.width, heat.height]).toEqual([96, 96]);
      for (let y = 0; y < 32; y++) {
        for (let xx = 0; xx < 32; xx++) {
          const at = (3 * y * 96 + 3 * xx) * heat.channels;
          const src = (y * 32 + xx) * 3;
          expect(Array.from(heat.data.subarray(at, at + 3))).toEqual(
            Array.from(overlay.data.subarray(src, src + 3)),
          );
          expect(Array.from(plain.data.subarray(at, at + 3))).toEqual(
            Array.from(image.data.subarray(src, src + 3)),
          );
        }
      }
      const predicted = CLASSES[cam.predicted[0]!]!;
      const truth = CLASSES[split.labels[index]!]!;
      const percent = `${(cam.probability[0]! * 100).toFixed(0)}%`;
      expect(svg).toContain(`#${index}`);
      expect(svg).toContain(`${truth} → ${predicted}`);
      expect(svg).toContain(`heat: ${predicted} ${percent}`);
    });
    // The same picture whatever the batch size.
    const oneByOne = gradCamGallery(resnet, split, [2, 0], {
      classNames: CLASSES,
      normalize,
      batchSize: 1,
    });
    expect(oneByOne.toSVG()).toBe(svg);
  });

  it("explains the true class on request and shows the given predictions", () => {
    const picture = gradCamGallery(resnet, split, [1], {
      classNames: CLASSES,
      normalize,
      labels: [4],
      predictions: [7],
      explain: "true",
      title: "",
    });
    const svg = picture.toSVG();
    expect(svg).toContain("deer → horse");
    expect(svg).toContain("heat: deer ");
    expect(svg).toContain("#d73027"); // wrong: red border
    const right = gradCamGallery(resnet, split, [1], {
      classNames: CLASSES,
      normalize,
      labels: [7],
      predictions: [7],
    }).toSVG();
    expect(right).toContain("#1a9850");
    expect(right).not.toContain("#d73027");
  });

  it("names the input or option at fault", () => {
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as ExplainError;
      }
      throw new Error("expected an error");
    };
    const base = { classNames: CLASSES, normalize };
    const before = tf.memory().numTensors;
    expect(err(() => gradCamGallery(resnet, split, [3], base)).message).toBe(
      "gradCamGallery indices: expected integers in [0, 3), got 3",
    );
    expect(
      err(() =>
        gradCamGallery(resnet, split, [0], { ...base, normalize: { mean: [0.5], std: STD } }),
      ).message,
    ).toContain("options.normalize.mean: expected 3 finite numbers");
    expect(
      err(() => gradCamGallery(resnet, split, [0, 1], { ...base, labels: [1] })).message,
    ).toContain("options.labels: expected 2 class indices in [0, 10)");
    expect(err(() => gradCamGallery(resnet, { ...split, length: 4 }, [0], base)).message).toContain(
      "9216 bytes for length 4",
    );
    const unknown = err(() =>
      gradCamGallery(resnet, split, [0], { ...base, layer: "stage4_block1_out" }),
    );
    expect(unknown).toBeInstanceOf(ExplainError);
    expect(unknown.code).toBe("unknown_layer");
    expect(unknown.message).toContain('"stage4_block1_out"');
    expect(tf.memory().numTensors).toBe(before);
  });
});
