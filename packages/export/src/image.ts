// Decoding PNG/JPEG files and turning a picture of any size into the model's normalised input,
// exactly as the export manifest prescribes.
import { convertIndexedToRgb, decode as decodePng, hasPngSignature } from "fast-png";
import jpeg from "jpeg-js";
import { ExportError } from "./errors.js";
import type { Manifest } from "./manifest.js";

/** An 8-bit picture, HWC, RGB or grey (the `@cnnkit/viz` shape). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** Defaults to 3. */
  channels?: 1 | 3;
}

/** PNGs and JPEGs bigger than this are refused rather than exhausting memory. */
const MAX_MEGAPIXELS = 100;

/**
 * A PNG's size from its IHDR chunk (which must come first), read before decoding: a small file
 * can declare a huge, highly compressible picture (a 607 KB PNG took 3.2 GB to decode).
 */
function checkPngSize(bytes: Uint8Array, name: string): void {
  if (bytes.byteLength < 24) return; // too short to decode: the decoder says so
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunk = String.fromCharCode(...bytes.subarray(12, 16));
  if (chunk !== "IHDR") return;
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  if (width * height > MAX_MEGAPIXELS * 1e6) {
    throw new ExportError(
      "bad_image",
      `${name}: PNG of ${width}×${height} = ${((width * height) / 1e6).toFixed(0)} megapixels, more than the ${MAX_MEGAPIXELS} megapixels this decoder accepts (memory); shrink it first`,
    );
  }
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** Keeps the first three channels (RGB) of `channels`-channel 8-bit data, expanding grey. */
function toRgb(
  data: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  shift: number,
): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const src = channels < 3 ? 0 : c; // grey (and grey+alpha) repeat their one channel; alpha is dropped
      out[p * 3 + c] = (data[p * channels + src] as number) >> shift;
    }
  }
  return { data: out, width, height, channels: 3 };
}

/** Decodes PNG or JPEG bytes to RGB; `name` (usually the file path) is named in errors. */
export function decodeImage(bytes: Uint8Array, name: string): RgbImage {
  if (hasPngSignature(bytes)) {
    checkPngSize(bytes, name);
    let png: ReturnType<typeof decodePng>;
    try {
      png = decodePng(bytes);
    } catch (cause) {
      throw new ExportError("bad_image", `${name}: corrupt PNG (${(cause as Error).message})`, {
        cause,
      });
    }
    if (png.palette) {
      const rgb = convertIndexedToRgb(png);
      const channels = rgb.length / (png.width * png.height);
      return toRgb(rgb, png.width, png.height, channels, 0);
    }
    return toRgb(png.data, png.width, png.height, png.channels, png.depth === 16 ? 8 : 0);
  }
  if (isJpeg(bytes)) {
    let img: { width: number; height: number; data: Uint8Array };
    try {
      img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: false,
        maxResolutionInMP: MAX_MEGAPIXELS,
      });
    } catch (cause) {
      throw new ExportError(
        "bad_image",
        `${name}: corrupt JPEG (${String((cause as Error).message ?? cause)})`,
        { cause },
      );
    }
    const channels = img.data.length / (img.width * img.height);
    if (channels !== 1 && channels !== 3) {
      throw new ExportError(
        "bad_image",
        `${name}: expected a grey or RGB JPEG, got ${channels} channels`,
      );
    }
    return toRgb(img.data, img.width, img.height, channels, 0);
  }
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new ExportError(
    "bad_image",
    `${name}: expected a PNG or JPEG image, got ${bytes.byteLength} bytes starting ${head || "(empty)"}`,
  );
}

/** Samples channel `c` of `img` over the source rectangle [x0,x1)×[y0,y1): area average when it covers more than a pixel, bilinear otherwise. */
function sample(img: RgbImage, c: number, x0: number, x1: number, y0: number, y1: number): number {
  const ch = img.channels ?? 3;
  const at = (x: number, y: number) =>
    img.data[(y * img.width + x) * ch + (ch === 1 ? 0 : c)] as number;
  if (x1 - x0 > 1 || y1 - y0 > 1) {
    // Box filter with fractional edge weights: exact area average, so shrinking does not alias.
    let sum = 0;
    let weight = 0;
    for (let y = Math.floor(y0); y < Math.min(img.height, Math.ceil(y1)); y++) {
      const wy = Math.min(y + 1, y1) - Math.max(y, y0);
      for (let x = Math.floor(x0); x < Math.min(img.width, Math.ceil(x1)); x++) {
        const w = wy * (Math.min(x + 1, x1) - Math.max(x, x0));
        sum += w * at(x, y);
        weight += w;
      }
    }
    return sum / weight;
  }
  const cx = Math.min(Math.max((x0 + x1) / 2 - 0.5, 0), img.width - 1);
  const cy = Math.min(Math.max((y0 + y1) / 2 - 0.5, 0), img.height - 1);
  const xa = Math.floor(cx);
  const ya = Math.floor(cy);
  const xb = Math.min(xa + 1, img.width - 1);
  const yb = Math.min(ya + 1, img.height - 1);
  const fx = cx - xa;
  const fy = cy - ya;
  return (
    (at(xa, ya) * (1 - fx) + at(xb, ya) * fx) * (1 - fy) +
    (at(xa, yb) * (1 - fx) + at(xb, yb) * fx) * fy
  );
}

/**
 * The picture as the model's input: resized/cropped to the manifest's size, scaled and
 * normalised with the manifest's mean/std, NHWC float32 (one image, no batch dimension).
 */
export function preprocessImage(
  img: RgbImage,
  manifest: Pick<Manifest, "input" | "normalization" | "preprocessing">,
): Float32Array {
  const [height, width, channels] = manifest.input.shape;
  const { mean, std } = manifest.normalization;
  const scale = manifest.preprocessing.pixelScale;
  if (img.width <= 0 || img.height <= 0)
    throw new ExportError(
      "bad_image",
      `expected a non-empty image, got ${img.width}×${img.height}`,
    );
  // Source region that maps onto the output: the whole image (stretch) or a centred crop of the
  // target's aspect ratio (resize the shorter side, crop the longer).
  let sx = 0;
  let sy = 0;
  let sw = img.width;
  let sh = img.height;
  if (manifest.preprocessing.resize === "resize-shorter-then-center-crop") {
    const ratio = Math.min(img.width / width, img.height / height);
    sw = width * ratio;
    sh = height * ratio;
    sx = (img.width - sw) / 2;
    sy = (img.height - sh) / 2;
  }
  const out = new Float32Array(height * width * channels);
  const fx = sw / width;
  const fy = sh / height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const v = sample(img, c, sx + x * fx, sx + (x + 1) * fx, sy + y * fy, sy + (y + 1) * fy);
        out[(y * width + x) * channels + c] =
          (v / scale - (mean[c] as number)) / (std[c] as number);
      }
    }
  }
  return out;
}

/** Normalises raw NHWC uint8 images of exactly the manifest's size (a dataset batch) to float32. */
export function normalizePixels(
  images: Uint8Array,
  manifest: Pick<Manifest, "input" | "normalization" | "preprocessing">,
): Float32Array {
  const channels = manifest.input.shape[2];
  const { mean, std } = manifest.normalization;
  const scale = manifest.preprocessing.pixelScale;
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) {
    const c = i % channels;
    out[i] = ((images[i] as number) / scale - (mean[c] as number)) / (std[c] as number);
  }
  return out;
}
