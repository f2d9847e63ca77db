// PNG encoding and decoding of 8-bit images, through fast-png (pure JS, no native code).
import { convertIndexedToRgb, decode, encode } from "fast-png";
import { VizError } from "./errors.js";
import { checkImage, type RgbaImage, type RgbImage } from "./rgb-image.js";

/** A decoded PNG: grayscale, RGB, or RGBA (when the file had transparency), 8 bits per sample. */
export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** Encodes an 8-bit grayscale, RGB or RGBA HWC image as PNG bytes. */
export function encodePNG(image: RgbImage | RgbaImage): Uint8Array {
  const channels = checkImage(image, "encodePNG(image)", [1, 3, 4]);
  return encode({
    width: image.width,
    height: image.height,
    data: image.data,
    channels,
    depth: 8,
  });
}

/**
 * Decodes PNG bytes to 8-bit samples. Palette images are expanded, 16-bit samples are reduced to
 * their high byte, and gray+alpha becomes RGBA, so callers only ever see 1, 3 or 4 channels.
 */
export function decodePNG(bytes: Uint8Array): DecodedImage {
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes);
  } catch (cause) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new VizError(
      "invalid_png",
      `decodePNG: expected PNG bytes (89 50 4e 47 …), got ${bytes.length} bytes starting ${head || "(empty)"}: ${(cause as Error).message}`,
      { cause },
    );
  }
  const { width, height } = png;
  const pixels = width * height;
  let samples: Uint8Array;
  let channels = png.channels;
  if (png.palette) {
    samples = convertIndexedToRgb(png);
    channels = samples.length / pixels;
  } else if (png.depth === 8) {
    samples = png.data instanceof Uint8Array ? png.data : Uint8Array.from(png.data);
  } else if (png.depth === 16) {
    samples = new Uint8Array(png.data.length);
    for (let i = 0; i < samples.length; i++) samples[i] = png.data[i]! >> 8;
  } else {
    // 1, 2 or 4-bit grayscale: unpack and stretch to 0..255.
    const max = (1 << png.depth) - 1;
    const indices = unpackIndices(png.data, width, height, png.depth);
    samples = new Uint8Array(pixels);
    for (let i = 0; i < pixels; i++) samples[i] = Math.round((indices[i]! * 255) / max);
  }
  if (channels === 2) {
    const rgba = new Uint8Array(pixels * 4);
    for (let i = 0; i < pixels; i++) {
      const g = samples[i * 2]!;
      rgba[i * 4] = g;
      rgba[i * 4 + 1] = g;
      rgba[i * 4 + 2] = g;
      rgba[i * 4 + 3] = samples[i * 2 + 1]!;
    }
    return { data: rgba, width, height, channels: 4 };
  }
  return { data: samples, width, height, channels: channels as 1 | 3 | 4 };
}

/** `data:image/png;base64,…` for PNG bytes, with btoa (Node and browsers) rather than Buffer. */
export function pngDataUrl(png: Uint8Array): string {
  let binary = "";
  // In slices: String.fromCharCode takes its bytes as arguments, and a stack holds only so many.
  for (let i = 0; i < png.length; i += 0x8000) {
    binary += String.fromCharCode(...png.subarray(i, i + 0x8000));
  }
  return `data:image/png;base64,${btoa(binary)}`;
}

/** Sub-byte samples are packed MSB first and every row starts on a byte boundary. */
function unpackIndices(
  data: ArrayLike<number>,
  width: number,
  height: number,
  depth: number,
): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = data[y * rowBytes + (bit >> 3)]!;
      out[y * width + x] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}
