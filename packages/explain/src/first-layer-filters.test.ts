import { smallResNet } from "@cnnkit/resnet";
import { decodePNG } from "@cnnkit/viz";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test/helpers.js";
import { ExplainError, filterImages, firstLayerFilters } from "./index.js";

let resnet: LayersModel;
let kernel: number[][][][]; // [kh][kw][channel][filter]

beforeAll(async () => {
  await useCpu();
  resnet = smallResNet({ widths: [4, 8, 16], seed: 1 });
  kernel = resnet.getLayer("stem_conv").getWeights()[0]!.arraySync() as number[][][][];
});
afterAll(() => resnet.dispose());

/** Filter f's weights in HWC order, the order of its image's bytes. */
function weightsOf(f: number): number[] {
  return kernel.flatMap((row) => row.flatMap((pixel) => pixel.map((channels) => channels[f]!)));
}

describe("filterImages", () => {
  it("maps each filter's weights from [min, max] to [0, 255]", () => {
    const before = tf.memory().numTensors;
    const images = filterImages(resnet);
    expect(tf.memory().numTensors).toBe(before);
    expect(images).toHaveLength(4);
    images.forEach((image, f) => {
      expect(image).toMatchObject({ width: 3, height: 3, channels: 3 });
      const w = weightsOf(f);
      const lo = Math.min(...w);
      const hi = Math.max(...w);
      expect(Array.from(image.data)).toEqual(
        w.map((v) => Math.round(((v - lo) / (hi - lo)) * 255)),
      );
      expect(Math.min(...image.data)).toBe(0);
      expect(Math.max(...image.data)).toBe(255);
    });
  });

  it("shares one range across filters with normalize: 'all', and makes a flat filter grey", () => {
    const all = weightsOf(0).concat(weightsOf(1), weightsOf(2), weightsOf(3));
    const lo = Math.min(...all);
    const hi = Math.max(...all);
    const images = filterImages(resnet, { normalize: "all" });
    images.forEach((image, f) => {
      expect(Array.from(image.data)).toEqual(
        weightsOf(f).map((v) => Math.round(((v - lo) / (hi - lo)) * 255)),
      );
    });
    const flat = smallResNet({ widths: [2, 2, 2], seed: 2 });
    tf.tidy(() => flat.getLayer("stem_conv").setWeights([tf.fill([3, 3, 3, 2], 0.25)]));
    for (const image of filterImages(flat)) expect(new Set(image.data)).toEqual(new Set([128]));
    flat.dispose();
  });

  it("draws the filters pixel-exactly into the grid picture", () => {
    const picture = firstLayerFilters(resnet, { title: "", columns: 2, scale: 10 });
    // 2 columns of 30 px cells, 8 px apart, 10 px padding; no title, no captions.
    expect([picture.width, picture.height]).toEqual([10 + 30 + 8 + 30 + 10, 10 + 30 + 8 + 30 + 10]);
    const png = decodePNG(picture.toPNG());
    const images = filterImages(resnet);
    for (let f = 0; f < 4; f++) {
      const left = 10 + (f % 2) * 38;
      const top = 10 + Math.floor(f / 2) * 38;
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 3; c++) {
          const at = ((top + r * 10 + 5) * png.width + left + c * 10 + 5) * png.channels;
          const rgb = Array.from(png.data.subarray(at, at + 3));
          const want = Array.from(images[f]!.data.subarray((r * 3 + c) * 3, (r * 3 + c) * 3 + 3));
          expect(rgb, `filter ${f} pixel (${r}, ${c})`).toEqual(want);
        }
      }
    }
    expect(firstLayerFilters(resnet).toSVG()).toContain("stem_conv: 4 filters 3×3×3");
  });

  it("names the layer at fault", () => {
    const err = (options: Parameters<typeof filterImages>[1]) => {
      try {
        filterImages(resnet, options);
      } catch (e) {
        return e as ExplainError;
      }
      throw new Error("expected an error");
    };
    expect(err({ layer: "conv0" })).toMatchObject({ code: "unknown_layer" });
    expect(err({ layer: "conv0" }).message).toContain('expected a layer named "conv0"');
    expect(err({ layer: "pool" }).message).toMatch(
      /"pool" to be a 2-D convolution .* a layer without weights/,
    );
    expect(err({ layer: "stage1_block1_conv1" }).message).toContain(
      '"stage1_block1_conv1" to read 1 (grey) or 3 (RGB) channels, got 4',
    );
    expect(err({ normalize: "none" as "all" }).code).toBe("invalid_option");
    expect(err({ scale: 0 }).message).toContain(
      "options.scale: expected a positive integer, got 0",
    );
    expect(err({ layer: "conv0" })).toBeInstanceOf(ExplainError);
  });
});
