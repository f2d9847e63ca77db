import { readFileSync } from "node:fs";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import { useBackend } from "@cnnkit/backends";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  FLOAT16_MAX,
  FLOAT16_MIN_NORMAL,
  FLOAT16_MIN_SUBNORMAL,
  roundArrayToHalf,
  roundToHalf,
} from "./round-to-half.js";

beforeAll(() => useBackend("cpu", { threads: 1, onnxruntime: false }));

/** An IEEE binary16 bit pattern's value. */
function halfBitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const round = (values: number[]): number[] =>
  tf.tidy(() => Array.from(roundToHalf(tf.tensor1d(values)).dataSync()));

describe("roundToHalf", () => {
  it("equals numpy's float32 → float16 on 4,046 values: edges, every kind of tie, 2^-30 to 2^17, Inf, NaN", () => {
    // scripts/gen-float16-fixture.py (numpy's conversion is IEEE round to nearest, ties to even).
    const fixture = JSON.parse(
      readFileSync(new URL("./__fixtures__/float16-rounding.json", import.meta.url), "utf8"),
    ) as { input_bits: number[]; half_bits: number[] };
    const input = new Float32Array(new Uint32Array(fixture.input_bits).buffer);
    const expected = fixture.half_bits.map(halfBitsToNumber);
    const got = tf.tidy(() => roundToHalf(tf.tensor1d(input)).dataSync());
    expect(got).toHaveLength(expected.length);
    const wrong = expected.flatMap((e, i) => (Object.is(got[i], e) ? [] : [[input[i], got[i], e]]));
    expect(wrong).toEqual([]); // Object.is: -0 stays -0, NaN equals NaN
  });

  it("keeps the largest half, overflows from 65,520 (the tie goes to the even 2^16 = Infinity)", () => {
    expect(
      round([FLOAT16_MAX, 65519.99609375, 65520, -65520, 1e6, Number.NEGATIVE_INFINITY]),
    ).toEqual([
      65504,
      65504,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]);
  });

  it("rounds to the subnormal grid of 2^-24 and flushes what is at most half of it to zero", () => {
    const tiny = FLOAT16_MIN_SUBNORMAL;
    expect(round([tiny, tiny / 2, tiny * 0.5000001, tiny * 1.5, tiny * 2.5, 1e-8])).toEqual([
      tiny,
      0, // the tie between 0 and 2^-24: to even
      tiny,
      2 * tiny, // the tie between 1 and 2 units: to even
      2 * tiny, // between 2 and 3: to even
      0,
    ]);
    // The largest subnormal's neighbourhood: half a unit below 2^-14 ties up to the even 2^-14.
    expect(round([FLOAT16_MIN_NORMAL, FLOAT16_MIN_NORMAL - tiny / 2])).toEqual([
      FLOAT16_MIN_NORMAL,
      FLOAT16_MIN_NORMAL,
    ]);
  });

  it("keeps 11 significant bits, ties to even, and carries across a power of two", () => {
    expect(round([1 + 2 ** -11, 1 + 3 * 2 ** -11, 2049, 2051, 2 - 2 ** -12, 0.1])).toEqual([
      1, // tie between 1 and 1 + 2^-10 → the even 1
      1 + 2 ** -9, // tie between 1 + 2^-10 and 1 + 2^-9 → the even 1 + 2^-9
      2048,
      2052,
      2,
      0.0999755859375,
    ]);
    const [nan] = round([Number.NaN]);
    expect(nan).toBeNaN();
  });

  it("counts what rounding did: nonzero values, those flushed to zero, those not finite", () => {
    const source = new Float32Array([0, -0, 1, 1e-8, -2e-8, 1e5, Number.NaN, 3e-5]);
    const target = new Float32Array(source.length);
    expect(roundArrayToHalf(source, target)).toEqual({ nonzero: 6, flushed: 2, nonFinite: 2 });
    expect(Object.is(target[4], -0)).toBe(true);
  });

  it("has a straight-through gradient, itself rounded to half (small gradients flush to zero)", () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor1d([0.1, 0.2, 0.3, 0.4]);
    const upstream = tf.tensor1d([1e-8, 4e-8, 1 + 2 ** -11, 5]);
    const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(roundToHalf(v), upstream)))(x);
    expect(Array.from(grad.dataSync())).toEqual([0, FLOAT16_MIN_SUBNORMAL, 1, 5]);
    tf.dispose([x, upstream, grad]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
