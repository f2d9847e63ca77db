// Heat over an image (Grad-CAM, saliency) and heat as an image (feature maps, activations).
import { type ColorScheme, rgbAt } from "./color.js";
import { VizError } from "./errors.js";
import { show } from "./options.js";
import { checkImage, type RgbImage } from "./rgb-image.js";

/** A 2-D grid of numbers: rows of numbers, or a flat row-major array with `heatShape`. */
export type Heat = number[][] | Float32Array | Float64Array;

export interface HeatToImageOptions {
  /** [height, width] of a flat `heat` array. Defaults to square (the length must be a square). */
  heatShape?: [number, number];
  /** Value at the low end of the scale. Defaults to the smallest finite value. */
  min?: number;
  /** Value at the high end of the scale. Defaults to the largest finite value. */
  max?: number;
  /** Colour scale. Defaults to `"viridis"` for heatToImage, `"jet"` for overlayHeatmap. */
  scheme?: ColorScheme;
}

export interface OverlayHeatmapOptions extends HeatToImageOptions {
  /** Weight of the heat colour over the image, 0 (image only) to 1 (heat only). Defaults to 0.45. */
  alpha?: number;
}

interface Grid {
  data: Float64Array;
  height: number;
  width: number;
  min: number;
  max: number;
}

function resolveHeat(heat: Heat, options: HeatToImageOptions, where: string): Grid {
  let data: Float64Array;
  let height: number;
  let width: number;
  if (Array.isArray(heat)) {
    height = heat.length;
    width = Array.isArray(heat[0]) ? heat[0].length : 0;
    if (
      height === 0 ||
      width === 0 ||
      heat.some((row) => !Array.isArray(row) || row.length !== width)
    ) {
      throw new VizError(
        "invalid_option",
        `${where} heat: expected a non-empty rectangular number[][], got rows of lengths ${heat.map((r) => (Array.isArray(r) ? r.length : show(r))).join(", ") || "(none)"}`,
      );
    }
    data = Float64Array.from(heat.flat());
  } else if (heat instanceof Float32Array || heat instanceof Float64Array) {
    const shape = options.heatShape;
    if (shape) {
      [height, width] = shape;
    } else {
      height = width = Math.round(Math.sqrt(heat.length));
    }
    if (!(height >= 1 && width >= 1 && height * width === heat.length)) {
      throw new VizError(
        "invalid_option",
        `${where} heat: a flat array of ${heat.length} values needs ${shape ? `heatShape [h, w] with h×w = ${heat.length}, got [${shape.join(", ")}]` : "options.heatShape ([height, width]) unless it is square"}`,
      );
    }
    data = Float64Array.from(heat);
  } else {
    throw new VizError(
      "invalid_option",
      `${where} heat: expected number[][] or Float32Array, got ${show(heat)}`,
    );
  }
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of data) {
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const min = options.min ?? (Number.isFinite(lo) ? lo : 0);
  const max = options.max ?? (Number.isFinite(hi) ? hi : 1);
  return { data, height, width, min, max };
}

function position(value: number, grid: Grid): number {
  return grid.max === grid.min ? 0.5 : (value - grid.min) / (grid.max - grid.min);
}

/**
 * Colours a 2-D grid of values (a feature map, an attention map) into an RGB image of the same
 * size; pass it to `imageGrid` to show many channels side by side, upscaled without blur.
 */
export function heatToImage(heat: Heat, options: HeatToImageOptions = {}): RgbImage {
  const grid = resolveHeat(heat, options, "heatToImage");
  const scheme = options.scheme ?? "viridis";
  const out = new Uint8Array(grid.height * grid.width * 3);
  for (let i = 0; i < grid.data.length; i++)
    out.set(rgbAt(position(grid.data[i]!, grid), scheme), i * 3);
  return { data: out, width: grid.width, height: grid.height, channels: 3 };
}

/**
 * Blends a coloured heat map over an image, Grad-CAM style. The heat (e.g. 8×8 from the last
 * residual stage) is stretched to the image's size with bilinear interpolation over pixel
 * centres, so a coarse map lands on the right region instead of shifting by half a cell.
 */
export function overlayHeatmap(
  image: RgbImage,
  heat: Heat,
  options: OverlayHeatmapOptions = {},
): RgbImage {
  const channels = checkImage(image, "overlayHeatmap(image)");
  const grid = resolveHeat(heat, options, "overlayHeatmap");
  const alpha = options.alpha ?? 0.45;
  if (!(alpha >= 0 && alpha <= 1)) {
    throw new VizError(
      "invalid_option",
      `overlayHeatmap options.alpha: expected a number in [0, 1], got ${show(alpha)}`,
    );
  }
  const scheme = options.scheme ?? "jet";
  const { width, height } = image;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const gy = Math.min(grid.height - 1, Math.max(0, ((y + 0.5) * grid.height) / height - 0.5));
    const y0 = Math.floor(gy);
    const y1 = Math.min(grid.height - 1, y0 + 1);
    const fy = gy - y0;
    for (let x = 0; x < width; x++) {
      const gx = Math.min(grid.width - 1, Math.max(0, ((x + 0.5) * grid.width) / width - 0.5));
      const x0 = Math.floor(gx);
      const x1 = Math.min(grid.width - 1, x0 + 1);
      const fx = gx - x0;
      const at = (yy: number, xx: number) => grid.data[yy * grid.width + xx]!;
      const v =
        (at(y0, x0) * (1 - fx) + at(y0, x1) * fx) * (1 - fy) +
        (at(y1, x0) * (1 - fx) + at(y1, x1) * fx) * fy;
      const colour = rgbAt(position(v, grid), scheme);
      const src = (y * width + x) * channels;
      for (let c = 0; c < 3; c++) {
        const base = image.data[src + (channels === 1 ? 0 : c)]!;
        out[(y * width + x) * 3 + c] = Math.round((1 - alpha) * base + alpha * colour[c]!);
      }
    }
  }
  return { data: out, width, height, channels: 3 };
}
