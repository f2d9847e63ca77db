// The most confident mistakes as pictures: the images a person should look at first (often
// mislabelled examples, or the confusions the model really makes).
import type { Picture, RgbImage } from "@cnnkit/viz";
import { checkResult } from "./check-result.js";
import { MetricsError } from "./errors.js";
import { loadViz } from "./load-viz.js";
import type { MetricsResult, Mistake } from "./metrics-result.js";

/** Images addressed by dataset index: a `Cifar10Split` (NHWC `Uint8Array`) or alike. */
export interface ImageSource {
  /** N×H×W×C bytes, image after image (NHWC). */
  readonly images: Uint8Array;
  /** N, the number of images. */
  readonly length: number;
}

/** Options of {@link failureGallery}. */
export interface FailureGalleryOptions {
  /** Most images shown. Defaults to 32. */
  limit?: number;
  /** Most images per true class, so one bad class does not fill the page. Defaults to no cap. */
  perClass?: number;
  /** Images per row. Defaults to 8. */
  columns?: number;
  /** Nearest-neighbour upscale factor. Defaults to viz's choice (3 for 32×32). */
  scale?: number;
  /** Size of one image. Defaults to CIFAR-10's `{ height: 32, width: 32, channels: 3 }`. */
  imageShape?: { height: number; width: number; channels: 1 | 3 };
  /** Title. Defaults to "Most confident mistakes (N shown)". */
  title?: string;
}

/** The mistakes a gallery shows: most confident first across classes, capped per class. */
export function selectMistakes(result: MetricsResult, limit: number, perClass: number): Mistake[] {
  return result.perClass
    .flatMap((c) => c.worstMistakes.slice(0, perClass))
    .sort((a, b) => b.confidence - a.confidence || a.index - b.index)
    .slice(0, limit);
}

/** Copies image `index` out of an NHWC source. */
export function sliceImage(
  source: ImageSource,
  index: number,
  shape: { height: number; width: number; channels: 1 | 3 },
): RgbImage {
  const size = shape.height * shape.width * shape.channels;
  return {
    data: source.images.slice(index * size, (index + 1) * size),
    width: shape.width,
    height: shape.height,
    channels: shape.channels,
  };
}

function count(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new MetricsError(
      "invalid_option",
      `failureGallery: expected ${name} to be a positive integer, got ${value}`,
    );
  }
  return value;
}

/**
 * A grid of the most confident mistakes with "true → predicted" and the confidence under
 * each image. `images` must be the split the result was computed on, and `update()` must
 * have been given dataset `indices` (or have seen the split in order from index 0).
 */
export function failureGallery(
  result: MetricsResult,
  images: ImageSource,
  options: FailureGalleryOptions = {},
): Picture {
  const { imageGrid } = loadViz("failureGallery");
  checkResult(result, "failureGallery");
  const limit = count(options.limit, "limit", 32);
  const perClass = count(options.perClass, "perClass", Number.POSITIVE_INFINITY);
  const columns = count(options.columns, "columns", 8);
  const shape = options.imageShape ?? { height: 32, width: 32, channels: 3 };
  const size = shape.height * shape.width * shape.channels;
  if (
    !(images?.images instanceof Uint8Array) ||
    !Number.isInteger(images.length) ||
    images.images.length !== images.length * size
  ) {
    throw new MetricsError(
      "invalid_input",
      `failureGallery images: expected { images: Uint8Array of length × ${shape.height}×${shape.width}×${shape.channels}, length }, got ${
        images?.images instanceof Uint8Array
          ? `${images.images.length} bytes for length ${images.length}`
          : "no Uint8Array images"
      }`,
    );
  }
  const chosen = selectMistakes(result, limit, perClass);
  if (chosen.length === 0) {
    throw new MetricsError(
      "no_mistakes",
      "failureGallery: expected at least one mistake in the result, got none (perfect accuracy, or worstPerClass: 0)",
    );
  }
  const name = (c: number) => result.classNames[c] ?? String(c);
  for (const m of chosen) {
    if (m.index >= images.length) {
      throw new MetricsError(
        "index_out_of_range",
        `failureGallery: mistake at dataset index ${m.index} is outside images (length ${images.length}); pass the evaluated split and give update() its dataset indices`,
      );
    }
  }
  return imageGrid({
    images: chosen.map((m) => sliceImage(images, m.index, shape)),
    columns: Math.min(columns, chosen.length),
    ...(options.scale === undefined ? {} : { scale: options.scale }),
    captions: chosen.map(
      (m) =>
        `${name(m.trueClass)} → ${name(m.predictedClass)}\n${(m.confidence * 100).toFixed(0)}% · #${m.index}`,
    ),
    borders: chosen.map(() => "#d73027"),
    title: options.title ?? `Most confident mistakes (${chosen.length} shown)`,
  });
}
