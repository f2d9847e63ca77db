// Grad-CAM and the first-layer filters on a backend that can only be read asynchronously (as
// WebGPU in Node): the Async forms read with await and give the synchronous forms' results.
import "@tensorflow/tfjs-backend-cpu";
import { smallResNet } from "@cnnkit/resnet";
import { useAsyncOnlyBackend } from "@cnnkit/vitest-config/async-only-backend";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  filterImages,
  filterImagesAsync,
  firstLayerFilters,
  firstLayerFiltersAsync,
  gradCamMaps,
  gradCamMapsAsync,
} from "./index.js";

afterEach(async () => {
  await tf.setBackend("cpu");
});

async function explained(read: "sync" | "async") {
  const model = smallResNet({ widths: [4, 8, 16], seed: 1 });
  const images = tf.randomNormal([3, 32, 32, 3], 0, 1, "float32", 5) as tf.Tensor4D;
  const options = { classIndex: [2, 0, 9] };
  const cam =
    read === "sync"
      ? gradCamMaps(model, images, options)
      : await gradCamMapsAsync(model, images, options);
  const predicted =
    read === "sync" ? gradCamMaps(model, images) : await gradCamMapsAsync(model, images);
  const filters = read === "sync" ? filterImages(model) : await filterImagesAsync(model);
  const grid = (
    read === "sync" ? firstLayerFilters(model) : await firstLayerFiltersAsync(model)
  ).toSVG();
  tf.dispose(images);
  model.dispose();
  return { cam, predicted, filters, grid };
}

describe("on a backend read only asynchronously", () => {
  it("gradCamMapsAsync, filterImagesAsync and firstLayerFiltersAsync equal the synchronous forms on cpu, leaving no tensors", async () => {
    const onCpu = await explained("sync");
    await useAsyncOnlyBackend(tf);
    const tensors = tf.memory().numTensors;
    const onDevice = await explained("async");
    expect(tf.memory().numTensors).toBe(tensors);
    expect(onDevice).toEqual(onCpu);
    expect(onDevice.cam.classIndex).toEqual([2, 0, 9]);
    expect(onDevice.cam.maps).toHaveLength(3);
  });

  it("the synchronous forms cannot run there; the Async ones check their input the same way", async () => {
    await useAsyncOnlyBackend(tf);
    const model = smallResNet({ widths: [4, 8, 16], seed: 1 });
    const images = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    expect(() => gradCamMaps(model, images)).toThrow(/synchronous read/);
    expect(() => filterImages(model)).toThrow(/synchronous read/);
    const wrong = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
    await expect(gradCamMapsAsync(model, wrong)).rejects.toThrow(/expected shape \[N, 32, 32, 3\]/);
    await expect(filterImagesAsync(model, { layer: "nope" })).rejects.toThrow(/nope/);
    tf.dispose([images, wrong]);
    model.dispose();
  });
});
