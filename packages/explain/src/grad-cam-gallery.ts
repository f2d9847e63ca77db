// Grad-CAM over chosen images of a dataset (typically the most confident mistakes from
// @cnnkit/metrics): did the model look at the object, at the background, or at a look-alike?
import {
  imageGrid,
  overlayHeatmap,
  type Picture,
  type RgbImage,
  RIGHT_COLOR,
  WRONG_COLOR,
} from "@cnnkit/viz";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { ExplainError, type ExplainErrorCode } from "./errors.js";
import { gradCamMaps } from "./grad-cam.js";
import { inputShape } from "./graph.js";

/** Images addressed by dataset index: a `Cifar10Split` (NHWC `Uint8Array`) or alike. */
export interface GallerySource {
  /** N×H×W×C bytes, image after image (NHWC, RGB), the model's input size. */
  readonly images: Uint8Array;
  /** N, the number of images. */
  readonly length: number;
  /** True class of each image, when known (a `Cifar10Split` has them). */
  readonly labels?: ArrayLike<number>;
}

/** Options of {@link gradCamGallery}. */
export interface GradCamGalleryOptions {
  /** Class names by index, for the captions. */
  classNames: readonly string[];
  /**
   * Per-channel mean and std on the [0, 1] pixel scale the model was trained with (e.g.
   * `CIFAR10_MEAN`, `CIFAR10_STD`); the model sees `(pixel / 255 - mean) / std`.
   */
  normalize: { mean: readonly number[]; std: readonly number[] };
  /** True class of each chosen image, parallel to `indices`. Defaults to `source.labels`. */
  labels?: ArrayLike<number>;
  /**
   * The predicted class of each chosen image, parallel to `indices` (e.g. a metrics mistake's
   * `predictedClass`). Defaults to the model's own arg-max.
   */
  predictions?: ArrayLike<number>;
  /** Which class each heat map explains. Defaults to `"predicted"` (why it said that). */
  explain?: "predicted" | "true";
  /** The layer explained. Defaults to the last stage output of a cnnkit ResNet. */
  layer?: string;
  /** Heat colour weight over the image, 0–1. Defaults to 0.45 (viz's default). */
  alpha?: number;
  /** Image–overlay pairs per row. Defaults to 4. */
  columns?: number;
  /** Images per Grad-CAM batch (bounds memory). Defaults to 16. */
  batchSize?: number;
  /** Title. Defaults to "Grad-CAM on <layer> (<class explained> class)"; "" for none. */
  title?: string;
}

interface ResolvedGradCamGalleryOptions {
  classNames: readonly string[];
  mean: readonly number[];
  std: readonly number[];
  labels: (number | undefined)[];
  predictions: number[] | undefined;
  explain: "predicted" | "true";
  layer: string | undefined;
  alpha: number;
  columns: number;
  batchSize: number;
  title: string | undefined;
}

function fail(message: string, code: ExplainErrorCode = "invalid_option"): never {
  throw new ExplainError(code, `gradCamGallery ${message}`);
}

function classList(
  values: ArrayLike<number> | undefined,
  count: number,
  numClasses: number,
  name: string,
): number[] | undefined {
  if (values === undefined) return undefined;
  const list = Array.from(values);
  if (
    list.length !== count ||
    !list.every((c) => Number.isInteger(c) && c >= 0 && c < numClasses)
  ) {
    fail(
      `options.${name}: expected ${count} class indices in [0, ${numClasses}) (one per chosen image), got ${list.length} values${list.length === count ? ` including ${list.find((c) => !(Number.isInteger(c) && c >= 0 && c < numClasses))}` : ""}`,
    );
  }
  return list;
}

function resolveGradCamGalleryOptions(
  source: GallerySource,
  indices: readonly number[],
  options: GradCamGalleryOptions,
  channels: number,
): ResolvedGradCamGalleryOptions {
  const { classNames, normalize } = options ?? {};
  if (!Array.isArray(classNames) || classNames.length === 0) {
    fail(
      `options.classNames: expected a non-empty array of names, got ${JSON.stringify(classNames)}`,
    );
  }
  const { mean, std } = normalize ?? {};
  for (const [name, values] of [
    ["mean", mean],
    ["std", std],
  ] as const) {
    if (
      !Array.isArray(values) ||
      values.length !== channels ||
      !values.every((v) => Number.isFinite(v) && (name === "mean" || v > 0))
    ) {
      fail(
        `options.normalize.${name}: expected ${channels} finite numbers${name === "std" ? " > 0" : ""} on the [0, 1] scale (one per channel), got ${JSON.stringify(values)}`,
      );
    }
  }
  const n = classNames.length;
  const labels =
    classList(options.labels, indices.length, n, "labels") ??
    (source.labels === undefined
      ? indices.map(() => undefined)
      : indices.map((i) => {
          const label = source.labels![i];
          if (!(Number.isInteger(label) && label! >= 0 && label! < n)) {
            fail(`source.labels[${i}]: expected a class index in [0, ${n}), got ${label}`);
          }
          return label;
        }));
  const explain = options.explain ?? "predicted";
  if (explain !== "predicted" && explain !== "true") {
    fail(`options.explain: expected "predicted" or "true", got ${JSON.stringify(explain)}`);
  }
  if (explain === "true" && labels.some((l) => l === undefined)) {
    fail('options.explain: "true" needs labels (options.labels or source.labels), got none');
  }
  const alpha = options.alpha ?? 0.45;
  if (!(alpha >= 0 && alpha <= 1)) {
    fail(`options.alpha: expected a number in [0, 1], got ${JSON.stringify(alpha)}`);
  }
  const columns = options.columns ?? 4;
  const batchSize = options.batchSize ?? 16;
  for (const [name, value] of [
    ["columns", columns],
    ["batchSize", batchSize],
  ] as const) {
    if (!(Number.isInteger(value) && value >= 1)) {
      fail(`options.${name}: expected a positive integer, got ${JSON.stringify(value)}`);
    }
  }
  return {
    classNames,
    mean,
    std,
    labels,
    predictions: classList(options.predictions, indices.length, n, "predictions"),
    explain,
    layer: options.layer,
    alpha,
    columns,
    batchSize,
    title: options.title,
  };
}

/**
 * For each chosen image: the image, and beside it the Grad-CAM heat of the explained class
 * blended over it, captioned "true → predicted  p%" with a green (right) or red (wrong)
 * border. The images are normalised here exactly as `normalize` says, in batches of
 * `batchSize`; no tensor outlives the call.
 */
export function gradCamGallery(
  model: LayersModel,
  source: GallerySource,
  indices: readonly number[],
  options: GradCamGalleryOptions,
): Picture {
  const [h, w, c] = inputShape(model, "gradCamGallery");
  const size = h * w * c;
  if (
    !(source?.images instanceof Uint8Array) ||
    !Number.isInteger(source.length) ||
    source.images.length !== source.length * size
  ) {
    fail(
      `source: expected { images: Uint8Array of length × ${h}×${w}×${c} (NHWC), length }, got ${source?.images instanceof Uint8Array ? `${source.images.length} bytes for length ${source.length}` : "no Uint8Array images"}`,
      "invalid_input",
    );
  }
  if (!Array.isArray(indices) || indices.length === 0) {
    fail(
      `indices: expected a non-empty array of dataset indices, got ${JSON.stringify(indices)}`,
      "invalid_input",
    );
  }
  const badIndex = indices.find((i) => !(Number.isInteger(i) && i >= 0 && i < source.length));
  if (badIndex !== undefined) {
    fail(`indices: expected integers in [0, ${source.length}), got ${badIndex}`, "invalid_input");
  }
  const o = resolveGradCamGalleryOptions(source, indices, options, c);

  const pictures: RgbImage[] = [];
  const captions: string[] = [];
  const borders: (string | null)[] = [];
  let layer = "";
  for (let start = 0; start < indices.length; start += o.batchSize) {
    const chunk = indices.slice(start, start + o.batchSize);
    const batch = new Float32Array(chunk.length * size);
    chunk.forEach((index, j) => {
      for (let p = 0; p < size; p++) {
        const ch = p % c;
        batch[j * size + p] = (source.images[index * size + p]! / 255 - o.mean[ch]!) / o.std[ch]!;
      }
    });
    const given = o.explain === "true" ? o.labels : o.predictions;
    const x = tf.tensor4d(batch, [chunk.length, h, w, c]);
    let result: ReturnType<typeof gradCamMaps>;
    try {
      result = gradCamMaps(model, x, {
        ...(o.layer === undefined ? {} : { layer: o.layer }),
        ...(given === undefined
          ? {}
          : { classIndex: given.slice(start, start + chunk.length) as number[] }),
      });
    } finally {
      x.dispose();
    }
    layer = result.layer;
    chunk.forEach((index, j) => {
      const image: RgbImage = {
        data: source.images.slice(index * size, (index + 1) * size),
        width: w,
        height: h,
        channels: c as 1 | 3,
      };
      const truth = o.labels[start + j];
      const predicted = o.predictions?.[start + j] ?? result.predicted[j]!;
      const name = (k: number) => o.classNames[k] ?? String(k);
      const right = truth === undefined ? undefined : truth === predicted;
      pictures.push(
        image,
        overlayHeatmap(image, result.maps[j]!, {
          heatShape: [result.height, result.width],
          min: 0,
          max: 1,
          alpha: o.alpha,
        }),
      );
      const explained = `${name(result.classIndex[j]!)} ${(result.probability[j]! * 100).toFixed(0)}%`;
      captions.push(
        `#${index}`,
        truth === undefined
          ? `→ ${name(predicted)}\nheat: ${explained}`
          : `${name(truth)} → ${name(predicted)}\nheat: ${explained}`,
      );
      const colour = right === undefined ? null : right ? RIGHT_COLOR : WRONG_COLOR;
      borders.push(colour, colour);
    });
  }
  const title = o.title ?? `Grad-CAM on ${layer} (${o.explain} class)`;
  return imageGrid({
    images: pictures,
    columns: 2 * Math.min(o.columns, indices.length),
    captions,
    borders,
    ...(title === "" ? {} : { title }),
  });
}
