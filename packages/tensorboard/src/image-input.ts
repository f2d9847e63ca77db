// Turns what a caller hands to `image()` (PNG bytes, raw HWC pixels, or a picture that renders
// itself to PNG) into a checked `Summary.Image`.
import { encode } from "fast-png";
import { describeValue as describe } from "./describe-value.js";
import { TensorBoardError } from "./errors.js";
import type { TfImage } from "./event-proto.js";

/** Raw 8-bit pixels, row-major HWC (the layout of `@cnnkit/viz`'s `RgbImage`). */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 1 gray, 3 RGB, 4 RGBA. Defaults to 3. */
  channels?: 1 | 3 | 4;
}

/** Anything that renders itself to PNG bytes, such as a `@cnnkit/viz` `Picture`. */
export interface PngSource {
  toPNG(): Uint8Array;
}

/** What `SummaryWriter.image()` accepts. */
export type ImageInput = Uint8Array | RawImage | PngSource;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

// PNG colour type (IHDR byte 9) → Summary.Image colorspace (summary.proto).
const COLORSPACE_OF_PNG_COLOR_TYPE: Record<number, number> = {
  0: 1, // grayscale
  2: 3, // RGB
  3: 3, // palette, shown as RGB
  4: 2, // grayscale + alpha
  6: 4, // RGBA
};

const COLORSPACE_OF_CHANNELS: Record<number, number> = { 1: 1, 3: 3, 4: 4 };

/** Validates and, for raw pixels, PNG-encodes an image; `what` names it in errors. */
export function toSummaryImage(input: ImageInput, what: string): TfImage {
  if (input instanceof Uint8Array) return fromPng(input, what);
  if (
    typeof input === "object" &&
    input !== null &&
    typeof (input as PngSource).toPNG === "function"
  ) {
    return fromPng((input as PngSource).toPNG(), `${what} (toPNG())`);
  }
  if (typeof input === "object" && input !== null && "data" in input) return fromRaw(input, what);
  throw new TensorBoardError(
    "invalid_image",
    `${what}: expected PNG bytes (Uint8Array), raw pixels { data, width, height, channels? } or an object with toPNG(), got ${describe(input)}`,
  );
}

function fromPng(bytes: Uint8Array, what: string): TfImage {
  const signatureOk =
    bytes.length >= 33 && PNG_SIGNATURE.every((b, i) => bytes[i] === b) && isIhdr(bytes);
  if (!signatureOk) {
    throw new TensorBoardError(
      "invalid_image",
      `${what}: expected PNG bytes (signature 89 50 4E 47 0D 0A 1A 0A then an IHDR chunk), got ${bytes.length} bytes starting ${hexPrefix(bytes)} (raw pixels must be passed as { data, width, height, channels })`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const colorType = bytes[25]!;
  const colorspace = COLORSPACE_OF_PNG_COLOR_TYPE[colorType];
  if (colorspace === undefined || width === 0 || height === 0) {
    throw new TensorBoardError(
      "invalid_image",
      `${what}: expected a PNG with a non-zero size and colour type 0, 2, 3, 4 or 6, got ${width}×${height}, colour type ${colorType}`,
    );
  }
  return { height, width, colorspace, encodedImage: bytes };
}

function isIhdr(bytes: Uint8Array): boolean {
  // Chunk length 13 at byte 8, type "IHDR" at byte 12.
  return (
    bytes[8] === 0 &&
    bytes[9] === 0 &&
    bytes[10] === 0 &&
    bytes[11] === 13 &&
    String.fromCharCode(bytes[12]!, bytes[13]!, bytes[14]!, bytes[15]!) === "IHDR"
  );
}

function fromRaw(image: RawImage, what: string): TfImage {
  const { data, width, height } = image;
  const channels = image.channels ?? 3;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new TensorBoardError(
      "invalid_image",
      `${what}: expected data as a Uint8Array of 8-bit pixels, got ${describe(data)} (scale float images to 0–255 first)`,
    );
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new TensorBoardError(
      "invalid_image",
      `${what}: expected positive integer width and height, got ${width}×${height}`,
    );
  }
  const colorspace = COLORSPACE_OF_CHANNELS[channels];
  if (colorspace === undefined) {
    throw new TensorBoardError(
      "invalid_image",
      `${what}: expected channels 1, 3 or 4, got ${String(channels)}`,
    );
  }
  const expected = width * height * channels;
  if (data.length !== expected) {
    throw new TensorBoardError(
      "invalid_image",
      `${what}: expected ${expected} bytes (${height}×${width}×${channels} HWC), got ${data.length}`,
    );
  }
  const pixels =
    data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length);
  const png = encode({ width, height, data: pixels, channels, depth: 8 });
  return { height, width, colorspace, encodedImage: png };
}

function hexPrefix(bytes: Uint8Array): string {
  return (
    Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ") || "(empty)"
  );
}
