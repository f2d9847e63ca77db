// Normalised float pixels back to bytes: what a batch looked like before normalisation, and
// whether the stats used to undo it are the ones it was made with.
import type { NormalizeStats } from "./batches.js";

/**
 * Maps normalised float pixels back to bytes: `round((v·std + mean)·255)`, clamped to 0–255.
 * Returns the bytes and how many values fell outside [0, 255] before clamping (a sign of stats
 * that do not match the ones the batch was made with).
 */
export function denormalize(
  pixels: Float32Array,
  normalize: NormalizeStats | false,
): { bytes: Uint8Array; clipped: number } {
  const mean = normalize ? normalize.mean : [0, 0, 0];
  const std = normalize ? normalize.std : [1, 1, 1];
  const bytes = new Uint8Array(pixels.length);
  let clipped = 0;
  for (let i = 0; i < pixels.length; i++) {
    const c = i % 3;
    const v = Math.round((pixels[i]! * std[c]! + mean[c]!) * 255);
    if (v < 0 || v > 255) clipped++;
    bytes[i] = Math.min(Math.max(v, 0), 255);
  }
  return { bytes, clipped };
}
