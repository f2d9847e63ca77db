// Looking at the data and inside the trained net, in the worker: the augmented batch the model
// sees, the test metrics with the most confident mistakes, the first-layer filters and Grad-CAM.
// Pictures leave as SVG or PNG bytes; the page only shows them.
import { CIFAR10_IMAGE_BYTES, type Cifar10Split } from "@cnnkit/cifar10";
import { batchGrid } from "@cnnkit/cifar10/pictures";
import { firstLayerFiltersAsync, gradCamMapsAsync } from "@cnnkit/explain";
import { MetricsError } from "@cnnkit/metrics";
import { failureGallery } from "@cnnkit/metrics/pictures";
import { encodePNG, overlayHeatmap, type RgbImage } from "@cnnkit/viz";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import type { Recipe } from "./presets.js";
import type { Report } from "./protocol.js";
import { CLASS_NAMES, evaluate, firstImages, NORMALIZE, trainBatches } from "./run.js";

/** The recipe's first training batch exactly as the model will see it (augmented, normalised). */
export async function augmentedPreview(train: Cifar10Split, recipe: Recipe) {
  const batches = trainBatches(firstImages(train, recipe.trainImages), recipe);
  const batch = batches.toTensors(batches.prepare(0, 0, batches.order(0)), 0);
  try {
    const picture = await batchGrid(batch, {
      normalize: NORMALIZE,
      maxImages: 16,
      columns: 8,
    });
    const { padding, paddingMode, alternateFlip } = recipe.augment;
    const summary = `The first 16 images of the first training batch as the model sees them: shuffled, shifted by up to ${padding} pixels (${paddingMode} padding), ${alternateFlip ? "flipped every other epoch" : "flipped at random"}; the title gives the normalised batch's per-channel mean and standard deviation.`;
    return { svg: picture.toSVG(), summary };
  } finally {
    tf.dispose([batch.x, batch.y]);
  }
}

/** The test metrics, the most confident mistakes and the first-layer filters. */
export async function resultsOf(model: LayersModel, test: Cifar10Split) {
  const result = await evaluate(model, test);
  let failuresSvg = "";
  try {
    failuresSvg = failureGallery(result, test, { limit: 16, perClass: 3, columns: 8 }).toSVG();
  } catch (error) {
    // Not one mistake: nothing to show, which the page says.
    if (!(MetricsError.isInstance(error) && error.code === "no_mistakes")) throw error;
  }
  const filtersSvg = (await firstLayerFiltersAsync(model, { scale: 12 })).toSVG();
  return { result, failuresSvg, filtersSvg };
}

/** Nearest-neighbour upscale: a 32×32 picture is too small to see a heat map on. */
function upscale(image: RgbImage, factor: number): RgbImage {
  const width = image.width * factor;
  const height = image.height * factor;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (Math.floor(y / factor) * image.width + Math.floor(x / factor)) * 3;
      data.set(image.data.subarray(from, from + 3), (y * width + x) * 3);
    }
  }
  return { data, width, height, channels: 3 };
}

/** Grad-CAM of one 32×32 RGB image: what the predicted class's score looks at. */
export async function explainImage(
  model: LayersModel,
  pixels: Uint8Array,
  subject: string,
  label: number | null,
): Promise<Extract<Report, { type: "explained" }>> {
  if (pixels.length !== CIFAR10_IMAGE_BYTES) {
    throw new Error(
      `${subject}: expected 32×32 RGB pixels (${CIFAR10_IMAGE_BYTES} bytes), got ${pixels.length}`,
    );
  }
  const x = tf.tidy(() => {
    const image = tf.div(tf.cast(tf.tensor4d(pixels, [1, 32, 32, 3]), "float32"), 255);
    return tf.div(tf.sub(image, [...NORMALIZE.mean]), [...NORMALIZE.std]) as tf.Tensor4D;
  });
  try {
    // Read asynchronously: a synchronous read from a GPU backend stalls it.
    const softmax = tf.tidy(() => tf.softmax(model.predict(x) as tf.Tensor2D));
    const probabilities = await softmax.data();
    softmax.dispose();
    const cam = await gradCamMapsAsync(model, x);
    const predicted = cam.predicted[0]!;
    const image = upscale({ data: pixels, width: 32, height: 32, channels: 3 }, 4);
    const overlay = overlayHeatmap(image, cam.maps[0]!, { heatShape: [cam.height, cam.width] });
    return {
      type: "explained",
      subject,
      label: label === null ? null : CLASS_NAMES[label]!,
      predicted: CLASS_NAMES[predicted]!,
      probability: probabilities[predicted]!,
      imagePng: encodePNG(image),
      overlayPng: encodePNG(overlay),
      layer: cam.layer,
    };
  } finally {
    x.dispose();
  }
}
