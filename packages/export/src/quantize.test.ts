import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { quantizeArtifacts, toFloat16Bits } from "./quantize.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

function artifactsOf(tensors: Record<string, Float32Array>) {
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Float32Array[] = [];
  for (const [name, values] of Object.entries(tensors)) {
    specs.push({ name, shape: [values.length], dtype: "float32" });
    parts.push(values);
  }
  const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { modelTopology: {}, weightSpecs: specs, weightData: data.buffer };
}

describe("toFloat16Bits", () => {
  it("encodes exact, overflowing, subnormal and special values like IEEE 754 half", () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(1e6)).toBe(0x7c00);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(toFloat16Bits(2 ** -26)).toBe(0x0000);
    expect(toFloat16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(toFloat16Bits(Number.NaN) & 0x3ff).not.toBe(0);
    // 1 + 2^-11 is exactly between 1 and the next half: ties go to even (1).
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });
});

describe("quantizeArtifacts", () => {
  const values = Float32Array.from({ length: 257 }, (_, i) => Math.sin(i) * 3 - 0.5);
  const constant = new Float32Array(5).fill(0.25);

  it("writes float16 weights that tfjs decodes within half precision", () => {
    const q = quantizeArtifacts(artifactsOf({ w: values, c: constant }), "float16");
    expect((q.weightData as ArrayBuffer).byteLength).toBe((257 + 5) * 2);
    expect(q.weightSpecs?.[0]?.quantization).toEqual({ dtype: "float16" });
    const decoded = tf.io.decodeWeights(q.weightData as ArrayBuffer, q.weightSpecs ?? []);
    const w = decoded.w?.dataSync() as Float32Array;
    for (let i = 0; i < values.length; i++)
      expect(Math.abs((w[i] as number) - (values[i] as number))).toBeLessThanOrEqual(
        Math.abs(values[i] as number) * 2 ** -11 + 1e-7,
      );
    expect(Array.from(decoded.c?.dataSync() ?? [])).toEqual(Array.from(constant));
    tf.dispose(Object.values(decoded));
  });

  it("writes affine uint8 weights that tfjs decodes within half a step", () => {
    const q = quantizeArtifacts(artifactsOf({ w: values, c: constant }), "uint8", {
      uint8MinElements: 0,
    });
    expect((q.weightData as ArrayBuffer).byteLength).toBe(257 + 5);
    const spec = q.weightSpecs?.[0]?.quantization;
    expect(spec?.dtype).toBe("uint8");
    const decoded = tf.io.decodeWeights(q.weightData as ArrayBuffer, q.weightSpecs ?? []);
    const w = decoded.w?.dataSync() as Float32Array;
    const step = spec?.scale as number;
    expect(step).toBeCloseTo((Math.max(...values) - Math.min(...values)) / 255, 6);
    for (let i = 0; i < values.length; i++)
      expect(Math.abs((w[i] as number) - (values[i] as number))).toBeLessThanOrEqual(
        step / 2 + 1e-6,
      );
    // A constant tensor decodes exactly (no division by a zero range).
    expect(Array.from(decoded.c?.dataSync() ?? [])).toEqual(Array.from(constant));
    tf.dispose(Object.values(decoded));
  });

  it("keeps tensors under uint8MinElements values in float32 (1,024 by default)", () => {
    const big = Float32Array.from({ length: 2048 }, (_, i) => Math.cos(i));
    const stem = Float32Array.from({ length: 288 }, (_, i) => (i % 7) * 4 - 12);
    const q = quantizeArtifacts(artifactsOf({ big, stem }), "uint8");
    expect(q.weightSpecs?.map((s) => s.quantization?.dtype ?? "float32")).toEqual([
      "uint8",
      "float32",
    ]);
    expect((q.weightData as ArrayBuffer).byteLength).toBe(2048 + 288 * 4);
    const decoded = tf.io.decodeWeights(q.weightData as ArrayBuffer, q.weightSpecs ?? []);
    expect(Array.from(decoded.stem?.dataSync() ?? [])).toEqual(Array.from(stem));
    tf.dispose(Object.values(decoded));
    // float16 ignores the threshold: every float32 tensor is halved.
    const h = quantizeArtifacts(artifactsOf({ big, stem }), "float16");
    expect(h.weightSpecs?.every((s) => s.quantization?.dtype === "float16")).toBe(true);
    expect(() =>
      quantizeArtifacts(artifactsOf({ big }), "uint8", { uint8MinElements: -1 }),
    ).toThrow("uint8MinElements: expected an integer ≥ 0, got -1");
  });

  it("leaves int32 weights and the original artifacts untouched", () => {
    const a = artifactsOf({ w: values });
    const ints = new Int32Array([1, -2, 3]);
    const joined = new Uint8Array(values.byteLength + ints.byteLength);
    joined.set(new Uint8Array(values.buffer), 0);
    joined.set(new Uint8Array(ints.buffer), values.byteLength);
    const art = {
      ...a,
      weightSpecs: [...(a.weightSpecs ?? []), { name: "i", shape: [3], dtype: "int32" as const }],
      weightData: joined.buffer,
    };
    const q = quantizeArtifacts(art, "uint8");
    const decoded = tf.io.decodeWeights(q.weightData as ArrayBuffer, q.weightSpecs ?? []);
    expect(Array.from(decoded.i?.dataSync() ?? [])).toEqual([1, -2, 3]);
    expect(art.weightSpecs[0]?.quantization).toBeUndefined();
    tf.dispose(Object.values(decoded));
  });
});
