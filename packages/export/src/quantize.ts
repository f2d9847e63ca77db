// Weight quantisation in tfjs's own format (WeightsManifestEntry.quantization), so plain
// tf.loadLayersModel dequantises on load and the quantised export needs no cnnkit code.
import type { io } from "@tensorflow/tfjs-core";
import { ExportError } from "./errors.js";
import { specBytes, weightBytes } from "./file-io.js";

export type QuantizationDtype = "float16" | "uint8";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half from a float32, rounding to nearest even (what tfjs's decoder expects). */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // may carry into the exponent, which is right
  return sign | half;
}

/** Options of {@link quantizeArtifacts}. */
export interface QuantizeOptions {
  /**
   * uint8 only: tensors with fewer values stay float32. Biases, BatchNorm parameters and small
   * stems are a few kilobytes, and one uint8 step of a wide-ranged small tensor (fastResNet's
   * whitening stem spans ±12: a step of 0.1) moves every logit. Defaults to `1024`.
   */
  uint8MinElements?: number;
}

/**
 * A copy of `artifacts` with every float32 weight quantised to `dtype`. uint8 is affine per
 * tensor (`value ≈ q * scale + min`), as tfjs-converter writes it, for tensors of at least
 * `uint8MinElements` values; the small ones stay float32 (tfjs reads mixed manifests).
 */
export function quantizeArtifacts(
  artifacts: io.ModelArtifacts,
  dtype: QuantizationDtype,
  options: QuantizeOptions = {},
): io.ModelArtifacts {
  const minElements = options.uint8MinElements ?? 1024;
  if (!Number.isInteger(minElements) || minElements < 0) {
    throw new ExportError(
      "invalid_option",
      `quantizeArtifacts uint8MinElements: expected an integer ≥ 0, got ${minElements}`,
    );
  }
  const specs = artifacts.weightSpecs ?? [];
  const source = weightBytes(artifacts);
  const chunks: Uint8Array[] = [];
  const outSpecs: io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    const size = specBytes(spec);
    const bytes = source.slice(offset, offset + size);
    offset += size;
    const small = dtype === "uint8" && size / 4 < minElements;
    if (spec.dtype !== "float32" || spec.quantization || small) {
      chunks.push(bytes);
      outSpecs.push(spec);
      continue;
    }
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    if (dtype === "float16") {
      const half = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) half[i] = toFloat16Bits(values[i] as number);
      chunks.push(new Uint8Array(half.buffer));
      outSpecs.push({ ...spec, quantization: { dtype: "float16" } });
    } else {
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (const v of values) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      if (!Number.isFinite(min) || !Number.isFinite(max)) {
        if (values.length > 0) {
          throw new ExportError(
            "non_finite_weight",
            `weight ${spec.name}: expected finite values to quantise, got ${min}..${max}`,
          );
        }
        min = 0;
        max = 0;
      }
      // A constant tensor still needs a non-zero scale; q = 0 then decodes to exactly `min`.
      const scale = max > min ? (max - min) / 255 : 1;
      const q = new Uint8Array(values.length);
      for (let i = 0; i < values.length; i++)
        q[i] = Math.round(((values[i] as number) - min) / scale);
      chunks.push(q);
      outSpecs.push({ ...spec, quantization: { dtype: "uint8", min, scale } });
    }
  }
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return { ...artifacts, weightSpecs: outSpecs, weightData: out.buffer };
}
