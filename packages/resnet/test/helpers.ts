// Shared test helpers: the cpu backend, fixture loading and tolerance comparisons.
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { expect } from "vitest";
import { parseSafetensors, type SafetensorsFile, safetensorsToFloat32 } from "../src/index.js";

export async function useCpu(): Promise<void> {
  await tf.setBackend("cpu");
  await tf.ready();
}

export const FIXTURES = new URL("../src/__fixtures__/", import.meta.url);

export function fixtureBytes(name: string): Uint8Array {
  return readFileSync(new URL(name, FIXTURES));
}

export function fixture(name: string): SafetensorsFile {
  return parseSafetensors(fixtureBytes(name), { source: name });
}

/** A fixture tensor as a tfjs tensor (F32 or I32). */
export function fixtureTensor(file: SafetensorsFile, name: string): tf.Tensor {
  const t = file.tensors.get(name);
  if (t === undefined) throw new Error(`fixture has no tensor "${name}"`);
  if (t.dtype === "I32") {
    const data = new Int32Array(t.data.slice().buffer);
    return tf.tensor(data, [...t.shape], "int32");
  }
  return tf.tensor(safetensorsToFloat32(t, name), [...t.shape], "float32");
}

/** max |a - b| / max(1, |b|): absolute for small values, relative for large ones. */
export function maxScaledDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const d = Math.abs(actual[i]! - e) / Math.max(1, Math.abs(e));
    if (Number.isNaN(d) || d > worst) worst = d; // a NaN anywhere stays the worst
  }
  return worst;
}

/** Shapes first, then every element within `tol` (scaled as in {@link maxScaledDiff}). */
export function expectClose(
  actual: tf.Tensor,
  expected: tf.Tensor,
  tol: number,
  what: string,
): number {
  expect(actual.shape, `${what}: shape`).toEqual(expected.shape);
  const diff = maxScaledDiff(actual.dataSync(), expected.dataSync());
  expect(diff, `${what}: max scaled difference`).toBeLessThanOrEqual(tol);
  return diff;
}
