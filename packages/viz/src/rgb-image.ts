// The image type every picture and codec in this package accepts, and its one validator.
import { VizError } from "./errors.js";

/**
 * An 8-bit image in HWC order (row by row, channels interleaved), the layout of a CIFAR-10
 * sample sliced out of an NHWC `Uint8Array`.
 */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** 3 for RGB, 1 for grayscale. Defaults to 3. */
  channels?: 1 | 3;
}

/** An 8-bit RGBA image, HWC; what `encodePNG` also accepts and `decodePNG` may return. */
export interface RgbaImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 4;
}

/** Checks sizes against the data length; `where` names the image in the error (`images[3]`). */
export function checkImage(
  image: RgbImage | RgbaImage,
  where: string,
  allowed: readonly number[] = [1, 3],
): 1 | 3 | 4 {
  if (image === null || typeof image !== "object" || !(image.data instanceof Uint8Array)) {
    throw new VizError(
      "invalid_image",
      `${where}: expected { data: Uint8Array, width, height }, got ${describe(image)}`,
    );
  }
  const channels = image.channels ?? 3;
  if (!allowed.includes(channels)) {
    throw new VizError(
      "invalid_image",
      `${where}.channels: expected one of ${allowed.join(", ")}, got ${String(channels)}`,
    );
  }
  const { width, height } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new VizError(
      "invalid_image",
      `${where}: expected positive integer width and height, got ${width}×${height}`,
    );
  }
  const expected = width * height * channels;
  if (image.data.length !== expected) {
    throw new VizError(
      "invalid_image",
      `${where}.data: expected ${expected} bytes (${height}×${width}×${channels} HWC), got ${image.data.length}`,
    );
  }
  return channels as 1 | 3 | 4;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const data = (value as { data?: unknown }).data;
  return `an object whose data is ${data === undefined ? "missing" : (data?.constructor?.name ?? typeof data)}`;
}

/** Nearest-neighbour upscale by an integer factor, always to RGB (grayscale is replicated). */
export function upscaleNearest(image: RgbImage, scale: number): RgbImage {
  const channels = image.channels ?? 3;
  const w = image.width * scale;
  const h = image.height * scale;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const srcRow = Math.floor(y / scale) * image.width;
    for (let x = 0; x < w; x++) {
      const src = (srcRow + Math.floor(x / scale)) * channels;
      const dst = (y * w + x) * 3;
      if (channels === 1) {
        const v = image.data[src]!;
        out[dst] = v;
        out[dst + 1] = v;
        out[dst + 2] = v;
      } else {
        out[dst] = image.data[src]!;
        out[dst + 1] = image.data[src + 1]!;
        out[dst + 2] = image.data[src + 2]!;
      }
    }
  }
  return { data: out, width: w, height: h, channels: 3 };
}
