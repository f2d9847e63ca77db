// CRC-32C (Castagnoli) and the "masked" form TFRecord files store, so a record's CRC never
// looks like data that itself contains a CRC (tensorflow/core/lib/hash/crc32c.h).
import { crc32c as awsCrc32c } from "@aws-crypto/crc32c";

const MASK_DELTA = 0xa282ead8;

/** CRC-32C of `bytes`, as an unsigned 32-bit integer. */
export function crc32c(bytes: Uint8Array): number {
  return awsCrc32c(bytes) >>> 0;
}

/** TFRecord's masked CRC-32C: rotate right by 15 bits, then add 0xa282ead8 (mod 2^32). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}
