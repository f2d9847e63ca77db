// Float32 → the nearest IEEE binary16 ("half", float16) value, kept in a float32 tensor: what a
// GPU's float16 storage would hold. tfjs has no float16 dtype or arithmetic, so this is how
// mixed precision is emulated here (emulated-float16.ts): values are rounded where a GPU would
// store them in half, and every operation between those points still runs in float32.
import * as tf from "@tensorflow/tfjs-core";

/** The largest finite float16, (2 − 2⁻¹⁰) × 2¹⁵. From 65,520 (halfway to 2¹⁶) a value overflows to ±Infinity. */
export const FLOAT16_MAX = 65504;
/** The smallest positive float16 (a subnormal), 2⁻²⁴ ≈ 5.96e-8. A magnitude at or below half of it rounds to zero. */
export const FLOAT16_MIN_SUBNORMAL = 2 ** -24;
/** The smallest positive normal float16, 2⁻¹⁴ ≈ 6.1e-5; below it the spacing stays 2⁻²⁴ (fewer significant bits). */
export const FLOAT16_MIN_NORMAL = 2 ** -14;

/** Float32 bit patterns (magnitude) of 65,520 and 2⁻¹⁴, and the exponent field all ones. */
const OVERFLOW_BITS = 0x477ff000;
const MIN_NORMAL_BITS = 0x38800000;
const INF_BITS = 0x7f800000;

/** What rounding a tensor to half did to its values. */
export interface HalfRounding {
  /** Values that were nonzero in float32. */
  nonzero: number;
  /** Of those, the ones that became zero in half (underflow). */
  flushed: number;
  /** Values that are Inf or NaN in half (overflow, or already so). */
  nonFinite: number;
}

/**
 * Rounds `source` into `target` (float32 arrays of one length), counting what happened. Bit
 * arithmetic on the float32 patterns, IEEE round to nearest, ties to even: normal halves keep
 * the top 10 of the 23 fraction bits (the carry of a round-up moves into the exponent, which is
 * what rounding 2 − 2⁻¹² up to 2 needs); below 2⁻¹⁴ the spacing is a fixed 2⁻²⁴ (subnormals).
 */
export function roundArrayToHalf(source: Float32Array, target: Float32Array): HalfRounding {
  const inBits = new Uint32Array(source.buffer, source.byteOffset, source.length);
  const outBits = new Uint32Array(target.buffer, target.byteOffset, target.length);
  let nonzero = 0;
  let flushed = 0;
  let nonFinite = 0;
  for (let i = 0; i < inBits.length; i++) {
    const bits = inBits[i]!;
    const sign = bits & 0x80000000;
    const magnitude = bits & 0x7fffffff;
    if (magnitude === 0) {
      outBits[i] = bits;
      continue;
    }
    nonzero++;
    if (magnitude >= INF_BITS) {
      outBits[i] = bits; // Inf stays Inf, NaN stays NaN
      nonFinite++;
    } else if (magnitude >= OVERFLOW_BITS) {
      outBits[i] = (sign | INF_BITS) >>> 0;
      nonFinite++;
    } else if (magnitude >= MIN_NORMAL_BITS) {
      // Drop 13 fraction bits: add just under half of their weight, plus the kept last bit (ties to even).
      const rounded = (magnitude + 0xfff + ((magnitude >>> 13) & 1)) & ~0x1fff;
      outBits[i] = (sign | rounded) >>> 0;
    } else {
      // A subnormal half: a multiple of 2⁻²⁴ (exact in float64: at most 1,024 of them).
      const units = Math.abs(source[i]!) * 2 ** 24;
      const floor = Math.floor(units);
      const fraction = units - floor;
      const n = fraction > 0.5 || (fraction === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
      if (n === 0) flushed++;
      target[i] = (sign ? -n : n) * FLOAT16_MIN_SUBNORMAL;
    }
  }
  return { nonzero, flushed, nonFinite };
}

/** A float32 tensor of `x`'s values rounded to half, and what the rounding did. */
export function halfTensor<T extends tf.Tensor>(x: T): { half: T; rounding: HalfRounding } {
  const source =
    x.dtype === "float32" ? (x.dataSync() as Float32Array) : Float32Array.from(x.dataSync());
  const target = new Float32Array(source.length);
  const rounding = roundArrayToHalf(source, target);
  return { half: tf.tensor(target, x.shape, "float32") as T, rounding };
}

/** Sees what rounding did to each gradient flowing back through a rounding point. */
export type HalfGradientObserver = (rounding: HalfRounding) => void;

/** `roundToHalf`, telling `observe` what rounding the gradient on the way back did. */
export function roundToHalfObserved<T extends tf.Tensor>(
  x: T,
  observe: HalfGradientObserver | null,
): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: halfTensor(args[0] as tf.Tensor).half,
    // Straight through: rounding counts as the identity for the chain rule, but the gradient
    // flowing back is stored in half too (that is where small gradients flush to zero).
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
      const { half, rounding } = halfTensor(Array.isArray(dy) ? dy[0]! : dy);
      observe?.(rounding);
      return half;
    },
  }));
  return op(x) as T;
}

/**
 * `x` rounded to the nearest float16 value (IEEE binary16, round to nearest, ties to even):
 * 11 significant bits, subnormals down to 2⁻²⁴, magnitudes from 65,520 up to ±Infinity, NaN
 * stays NaN. The result is a float32 tensor holding half values (tfjs has no float16 dtype).
 * Its gradient is straight-through and itself rounded to half, as a GPU storing this tensor in
 * float16 would store its gradient. The values are rounded on the host (`dataSync`): cheap on
 * the cpu, wasm and tensorflow backends, a round trip per call on WebGL/WebGPU. Emulation costs
 * time; it saves none.
 */
export function roundToHalf<T extends tf.Tensor>(x: T): T {
  return roundToHalfObserved(x, null);
}
