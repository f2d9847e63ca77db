// The first convolution's kernels as little RGB images: the colours and edges the network
// learned to look for directly in the pixels (trained filters show oriented edges and colour
// blobs; a filter that stays noise is a sign of too little training or too high a rate).
import { imageGrid, type Picture, type RgbImage } from "@cnnkit/viz";
import type { Tensor } from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { ExplainError } from "./errors.js";
import { findLayer } from "./graph.js";

/** Options of {@link firstLayerFilters} and {@link filterImages}. */
export interface FirstLayerFiltersOptions {
  /** The convolution drawn; its input must have 1 or 3 channels. Defaults to `"stem_conv"`. */
  layer?: string;
  /**
   * `"filter"`: each filter stretched over 0–255 on its own (shows every filter's pattern);
   * `"all"`: one range for all filters (shows which filters are strong). Defaults to `"filter"`.
   */
  normalize?: "filter" | "all";
  /** Nearest-neighbour upscale of each kernel pixel. Defaults to 16 (a 3×3 kernel is 48 px). */
  scale?: number;
  /** Filters per row. Defaults to a square-ish grid (8 for 64 filters). */
  columns?: number;
  /** Title. Defaults to `"<layer>: <N> filters <kh>×<kw>×<channels>"`; "" for none. */
  title?: string;
}

interface ResolvedFirstLayerFiltersOptions {
  layer: string;
  normalize: "filter" | "all";
  scale: number;
  columns: number | undefined;
  title: string | undefined;
}

function resolveFirstLayerFiltersOptions(
  options: FirstLayerFiltersOptions,
): ResolvedFirstLayerFiltersOptions {
  const { layer = "stem_conv", normalize = "filter", scale = 16, columns, title } = options;
  if (normalize !== "filter" && normalize !== "all") {
    throw new ExplainError(
      "invalid_option",
      `firstLayerFilters options.normalize: expected "filter" or "all", got ${JSON.stringify(normalize)}`,
    );
  }
  for (const [name, value] of [
    ["scale", scale],
    ["columns", columns],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
      throw new ExplainError(
        "invalid_option",
        `firstLayerFilters options.${name}: expected a positive integer, got ${JSON.stringify(value)}`,
      );
    }
  }
  return { layer, normalize, scale, columns, title };
}

interface Kernel {
  data: Float32Array; // [kh, kw, channels, filters], tfjs's Conv2D layout
  shape: [number, number, number, number];
}

/** The first convolution's kernel, checked (the variable's own value: never dispose it). */
function kernelTensor(model: LayersModel, name: string): Tensor {
  const layer = findLayer(model, name, "firstLayerFilters");
  const kernel = layer.getWeights()[0];
  if (kernel === undefined || kernel.rank !== 4) {
    throw new ExplainError(
      "invalid_option",
      `firstLayerFilters options.layer: expected ${JSON.stringify(name)} to be a 2-D convolution with a [kh, kw, channels, filters] kernel, got ${kernel ? `a weight of shape [${kernel.shape.join(", ")}]` : "a layer without weights"} (${layer.getClassName()})`,
    );
  }
  const shape = kernel.shape;
  if (shape[2] !== 1 && shape[2] !== 3) {
    throw new ExplainError(
      "invalid_option",
      `firstLayerFilters options.layer: expected ${JSON.stringify(name)} to read 1 (grey) or 3 (RGB) channels, got ${shape[2]}: only a first layer's filters are images`,
    );
  }
  return kernel;
}

function readKernel(model: LayersModel, name: string): Kernel {
  const kernel = kernelTensor(model, name);
  // getWeights() returns the variables' values themselves: read them, never dispose them.
  return { data: kernel.dataSync() as Float32Array, shape: kernel.shape as Kernel["shape"] };
}

async function readKernelAsync(model: LayersModel, name: string): Promise<Kernel> {
  const kernel = kernelTensor(model, name);
  return { data: (await kernel.data()) as Float32Array, shape: kernel.shape as Kernel["shape"] };
}

function range(values: Iterable<number>): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return [lo, hi];
}

/**
 * Each filter of the first convolution as a kh×kw image (RGB for a 3-channel input, grey for
 * 1), its weights mapped linearly from [min, max] to [0, 255] and rounded; a constant filter
 * is mid-grey (128). The channels are the input's, so a red pixel means "responds to red".
 */
export function filterImages(
  model: LayersModel,
  options: FirstLayerFiltersOptions = {},
): RgbImage[] {
  const o = resolveFirstLayerFiltersOptions(options);
  return imagesOf(readKernel(model, o.layer), o);
}

/**
 * {@link filterImages} with the kernel read by `await`: for backends that cannot (WebGPU in
 * Node) or should not (a GPU in a page) be read synchronously.
 */
export async function filterImagesAsync(
  model: LayersModel,
  options: FirstLayerFiltersOptions = {},
): Promise<RgbImage[]> {
  const o = resolveFirstLayerFiltersOptions(options);
  return imagesOf(await readKernelAsync(model, o.layer), o);
}

function imagesOf(
  { data, shape }: Kernel,
  o: ReturnType<typeof resolveFirstLayerFiltersOptions>,
): RgbImage[] {
  const [kh, kw, channels, filters] = shape;
  const weight = (f: number, p: number, c: number) => data[(p * channels + c) * filters + f]!;
  const global = range(data);
  return Array.from({ length: filters }, (_, f) => {
    const values = Float32Array.from({ length: kh * kw * channels }, (_, i) =>
      weight(f, Math.floor(i / channels), i % channels),
    );
    const [lo, hi] = o.normalize === "all" ? global : range(values);
    const pixels = Uint8Array.from(values, (v) =>
      hi === lo ? 128 : Math.round(((v - lo) / (hi - lo)) * 255),
    );
    return { data: pixels, width: kw, height: kh, channels: channels as 1 | 3 };
  });
}

/** The first convolution's filters as an image grid (see {@link filterImages}). */
export function firstLayerFilters(
  model: LayersModel,
  options: FirstLayerFiltersOptions = {},
): Picture {
  const o = resolveFirstLayerFiltersOptions(options);
  return gridOf(imagesOf(readKernel(model, o.layer), o), o);
}

/** {@link firstLayerFilters} with the kernel read by `await` (see {@link filterImagesAsync}). */
export async function firstLayerFiltersAsync(
  model: LayersModel,
  options: FirstLayerFiltersOptions = {},
): Promise<Picture> {
  const o = resolveFirstLayerFiltersOptions(options);
  return gridOf(imagesOf(await readKernelAsync(model, o.layer), o), o);
}

function gridOf(
  images: RgbImage[],
  o: ReturnType<typeof resolveFirstLayerFiltersOptions>,
): Picture {
  const { width, height, channels = 3 } = images[0]!;
  const title = o.title ?? `${o.layer}: ${images.length} filters ${height}×${width}×${channels}`;
  return imageGrid({
    images,
    scale: o.scale,
    ...(o.columns === undefined ? {} : { columns: o.columns }),
    ...(title === "" ? {} : { title }),
  });
}
