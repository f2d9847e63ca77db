// Decoding of the official binary batch format into NHWC bytes.
import { CIFAR10_IMAGE_BYTES, CIFAR10_IMAGE_SIZE, CIFAR10_RECORD_BYTES } from "./constants.js";
import { Cifar10Error } from "./errors.js";

const PLANE = CIFAR10_IMAGE_SIZE * CIFAR10_IMAGE_SIZE;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The source planes, readable four bytes at a time at any offset. */
export function viewOf(src: Uint8Array): DataView {
  return new DataView(src.buffer, src.byteOffset, src.byteLength);
}

/**
 * Converts one image from CIFAR's planar layout (1,024 red, 1,024 green, 1,024 blue bytes,
 * each row-major) to interleaved HWC RGB at `images[dst…]`.
 */
export function planarToHwc(
  src: Uint8Array,
  srcOffset: number,
  images: Uint8Array,
  dst: number,
  images32: Uint32Array | null = aligned32(images),
  view: DataView = viewOf(src),
) {
  const R = srcOffset;
  const G = srcOffset + PLANE;
  const B = srcOffset + 2 * PLANE;
  if (images32 && dst % 4 === 0) {
    // Four pixels at a time: three 32-bit loads (one per plane) and three aligned 32-bit stores
    // of r0 g0 b0 r1 | g1 b1 r2 g2 | b2 r3 g3 b3, instead of twelve byte loads and stores.
    // This loop is most of the load time of the full dataset.
    let w = dst >> 2;
    for (let p = 0; p < PLANE; p += 4) {
      const r = view.getUint32(R + p, true);
      const g = view.getUint32(G + p, true);
      const b = view.getUint32(B + p, true);
      images32[w++] = (r & 0xff) | ((g & 0xff) << 8) | ((b & 0xff) << 16) | ((r & 0xff00) << 16);
      images32[w++] = ((g >>> 8) & 0xff) | (b & 0xff00) | (r & 0xff0000) | ((g & 0xff0000) << 8);
      images32[w++] =
        ((b >>> 16) & 0xff) | ((r >>> 16) & 0xff00) | ((g >>> 8) & 0xff0000) | (b & 0xff000000);
    }
    return;
  }
  for (let p = 0; p < PLANE; p++) {
    const d = dst + 3 * p;
    images[d] = src[R + p]!;
    images[d + 1] = src[G + p]!;
    images[d + 2] = src[B + p]!;
  }
}

/** A uint32 view of `images` for the fast path, or null where it cannot be used. */
export function aligned32(images: Uint8Array): Uint32Array | null {
  if (!LITTLE_ENDIAN || images.byteOffset % 4 !== 0) return null;
  return new Uint32Array(images.buffer, images.byteOffset, images.length >> 2);
}

/**
 * Throws unless `label` is a CIFAR-10 class (0–9); `where` names the file and record.
 */
export function checkLabel(label: number, file: string, record: number): void {
  if (!(label >= 0 && label <= 9)) {
    throw new Cifar10Error(
      "bad_label",
      `${file}: record ${record} has label ${label}, expected 0–9 (not a CIFAR-10 batch, or corrupt)`,
    );
  }
}

/**
 * Decodes a `.bin` batch (records of 1 label byte + 3,072 planar pixel bytes) into `images`
 * (NHWC) and `labels`, starting at record `first` of those arrays.
 */
export function decodeBinBatch(
  bytes: Uint8Array,
  file: string,
  expectedRecords: number,
  images: Uint8Array,
  labels: Uint8Array,
  first: number,
): void {
  const expected = expectedRecords * CIFAR10_RECORD_BYTES;
  if (bytes.length !== expected) {
    throw new Cifar10Error(
      "bad_size",
      `${file}: expected ${expected} bytes (${expectedRecords} records of ${CIFAR10_RECORD_BYTES}), got ${bytes.length}${bytes.length < expected ? " (truncated download or copy?)" : ""}`,
    );
  }
  const images32 = aligned32(images);
  const view = viewOf(bytes);
  for (let r = 0; r < expectedRecords; r++) {
    const o = r * CIFAR10_RECORD_BYTES;
    const label = bytes[o]!;
    checkLabel(label, file, r);
    labels[first + r] = label;
    planarToHwc(bytes, o + 1, images, (first + r) * CIFAR10_IMAGE_BYTES, images32, view);
  }
}
