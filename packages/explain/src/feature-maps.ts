// What each stage of the network responds to in one image: the channels with the strongest
// activation, drawn as heat tiles at the stage's resolution (32×32, 16×16, 8×8 for CIFAR).
import { type ColorScheme, heatToImage, imageGrid, type Picture, type RgbImage } from "@cnnkit/viz";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { ExplainError } from "./errors.js";
import { inputShape, layerOutputs, stageOutputs } from "./graph.js";

/** Options of {@link featureMaps}. */
export interface FeatureMapsOptions {
  /**
   * Layers drawn, each must output [1, h, w, channels]. Defaults to the stage outputs of a
   * cnnkit ResNet (`stageOutputNames(model)`).
   */
  layers?: readonly string[];
  /** Strongest channels drawn per layer (by mean activation over the map). Defaults to 8. */
  channels?: number;
  /** `"grey"` or a viz colour scale for the tiles. Defaults to `"viridis"`. */
  scheme?: ColorScheme | "grey";
  /** Tiles per row. Defaults to `channels` (one row per layer). */
  columns?: number;
}

/** One layer's feature maps. */
export interface FeatureMap {
  /** The layer's name. */
  readonly layer: string;
  /** Its output for the image, [height, width, channels]. */
  readonly shape: [number, number, number];
  /** The channels drawn, strongest first. */
  readonly channels: number[];
  /** Mean activation of each drawn channel (the ranking score). */
  readonly strength: number[];
  /** The channels' maps as tiles on one shared scale, captioned with channel and mean. */
  readonly picture: Picture;
}

interface ResolvedFeatureMapsOptions {
  layers: readonly string[];
  channels: number;
  scheme: ColorScheme | "grey";
  columns: number | undefined;
}

function positiveInteger(value: number | undefined, option: string): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
    throw new ExplainError(
      "invalid_option",
      `featureMaps options.${option}: expected a positive integer, got ${JSON.stringify(value)}`,
    );
  }
}

function resolveFeatureMapsOptions(
  model: LayersModel,
  options: FeatureMapsOptions,
): ResolvedFeatureMapsOptions {
  const { channels = 8, scheme = "viridis", columns } = options;
  positiveInteger(channels, "channels");
  positiveInteger(columns, "columns");
  const layers = options.layers ?? stageOutputs(model, "featureMaps", "options.layers");
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new ExplainError(
      "invalid_option",
      `featureMaps options.layers: expected a non-empty array of layer names, got ${JSON.stringify(layers)}`,
    );
  }
  return { layers, channels, scheme, columns };
}

/** A normalised image as a [1, h, w, c] float32 tensor (the caller's tensor is not disposed). */
function imageTensor(
  image: Float32Array | tf.Tensor,
  shape: [number, number, number],
): tf.Tensor4D {
  const [h, w, c] = shape;
  if (image instanceof Float32Array) {
    if (image.length !== h * w * c) {
      throw new ExplainError(
        "invalid_input",
        `featureMaps image: expected a normalised HWC Float32Array of ${h}×${w}×${c} = ${h * w * c} values, got ${image.length}`,
      );
    }
    return tf.tensor4d(image, [1, h, w, c]);
  }
  const ok =
    image instanceof tf.Tensor &&
    ((image.rank === 3 && image.shape.join() === shape.join()) ||
      (image.rank === 4 && image.shape.join() === [1, ...shape].join()));
  if (!ok) {
    throw new ExplainError(
      "invalid_input",
      `featureMaps image: expected a Float32Array or a tensor of shape [${shape.join(", ")}] or [1, ${shape.join(", ")}], got ${image instanceof tf.Tensor ? `shape [${image.shape.join(", ")}]` : typeof image}`,
    );
  }
  return tf.cast(tf.reshape(image, [1, h, w, c]), "float32") as tf.Tensor4D;
}

/** A row-major channel slice scaled to bytes between lo and hi, as a 1-channel image. */
function greyTile(map: Float32Array, h: number, w: number, lo: number, hi: number): RgbImage {
  const data = Uint8Array.from(map, (v) =>
    hi === lo ? 128 : Math.round(((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * 255),
  );
  return { data, width: w, height: h, channels: 1 };
}

/**
 * Runs the model once on `image` (normalised as in training, HWC) and, for each layer, draws
 * its `channels` strongest channels. All tiles of a layer share one colour scale (from the
 * smallest to the largest value shown), so a faint tile really is a weak channel.
 */
export function featureMaps(
  model: LayersModel,
  image: Float32Array | tf.Tensor,
  options: FeatureMapsOptions = {},
): FeatureMap[] {
  const shape = inputShape(model, "featureMaps");
  const o = resolveFeatureMapsOptions(model, options);
  const outputs = tf.tidy(() => {
    const x = imageTensor(image, shape);
    return layerOutputs(model, x, o.layers, "featureMaps").map((out, i) => {
      if (out.rank !== 4) {
        throw new ExplainError(
          "invalid_option",
          `featureMaps options.layers: expected ${JSON.stringify(o.layers[i])} to output [1, height, width, channels], got shape [${out.shape.join(", ")}]`,
        );
      }
      // [h, w, c] row-major: channel k of pixel p is at p·c + k.
      return tf.squeeze(out, [0]);
    });
  });
  try {
    return outputs.map((out, i) => {
      const [h, w, c] = out.shape as [number, number, number];
      const values = out.dataSync() as Float32Array;
      const mean = new Float64Array(c);
      for (let p = 0; p < h * w; p++) for (let k = 0; k < c; k++) mean[k]! += values[p * c + k]!;
      const order = Array.from({ length: c }, (_, k) => k).sort(
        (a, b) => mean[b]! - mean[a]! || a - b,
      );
      const shown = order.slice(0, Math.min(o.channels, c));
      const maps = shown.map((k) =>
        Float32Array.from({ length: h * w }, (_, p) => values[p * c + k]!),
      );
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const m of maps) {
        for (const v of m) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
      const tiles = maps.map((m) =>
        o.scheme === "grey"
          ? greyTile(m, h, w, lo, hi)
          : heatToImage(m, { heatShape: [h, w], min: lo, max: hi, scheme: o.scheme }),
      );
      const strength = shown.map((k) => mean[k]! / (h * w));
      const layer = o.layers[i]!;
      return {
        layer,
        shape: [h, w, c],
        channels: shown,
        strength,
        picture: imageGrid({
          images: tiles,
          columns: o.columns ?? shown.length,
          captions: shown.map((k, j) => `#${k} · ${strength[j]!.toPrecision(2)}`),
          title: `${layer}: ${h}×${w}×${c}, strongest ${shown.length} channels (scale ${lo.toPrecision(2)}–${hi.toPrecision(2)})`,
        }),
      };
    });
  } finally {
    tf.dispose(outputs);
  }
}
