import { describe, expect, it } from "vitest";
import { symmetricEigen } from "./symmetric-eigen.js";

/** A seeded symmetric n×n matrix Bᵀ B + shift·I (positive definite when shift > 0). */
function randomSymmetric(n: number, seed: number, shift = 0): Float64Array {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648 - 0.5;
  };
  const b = Array.from({ length: n * n }, next);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = i === j ? shift : 0;
      for (let k = 0; k < n; k++) s += b[k * n + i]! * b[k * n + j]!;
      a[i * n + j] = s;
    }
  }
  return a;
}

describe("symmetricEigen", () => {
  it.each([
    [12, 1],
    [12, 2],
    [5, 3],
  ])(
    "decomposes a random %i×%i symmetric matrix (seed %i): A v = λ v, orthonormal, descending",
    (n, seed) => {
      const a = randomSymmetric(n, seed);
      const { values, vectors } = symmetricEigen(a, n);
      for (let k = 0; k < n; k++) {
        if (k > 0) expect(values[k]!).toBeLessThanOrEqual(values[k - 1]!);
        for (let i = 0; i < n; i++) {
          let av = 0;
          for (let j = 0; j < n; j++) av += a[i * n + j]! * vectors[k * n + j]!;
          expect(Math.abs(av - values[k]! * vectors[k * n + i]!)).toBeLessThan(1e-12);
        }
        for (let l = 0; l < n; l++) {
          let dot = 0;
          for (let i = 0; i < n; i++) dot += vectors[k * n + i]! * vectors[l * n + i]!;
          expect(Math.abs(dot - (k === l ? 1 : 0))).toBeLessThan(1e-12);
        }
        // The sign convention: the largest-magnitude component is positive.
        const row = Array.from(vectors.subarray(k * n, (k + 1) * n));
        const big = row.reduce((m, v, i) => (Math.abs(v) > Math.abs(row[m]!) ? i : m), 0);
        expect(row[big]!).toBeGreaterThan(0);
      }
      // The trace is the sum of the eigenvalues.
      let trace = 0;
      for (let i = 0; i < n; i++) trace += a[i * n + i]!;
      expect(Math.abs(values.reduce((s, v) => s + v, 0) - trace)).toBeLessThan(1e-12);
    },
  );

  it("reads only the upper triangle, and sorts a diagonal matrix's eigenvectors", () => {
    const a = [1, 0, 0, 99, 3, 0, 99, 99, 2]; // the lower triangle is garbage on purpose
    const { values, vectors } = symmetricEigen(a, 3);
    expect(Array.from(values)).toEqual([3, 2, 1]);
    expect(Array.from(vectors)).toEqual([0, 1, 0, 0, 0, 1, 1, 0, 0]);
  });

  it("returns an orthonormal basis for a repeated eigenvalue (the identity)", () => {
    const n = 12;
    const identity = new Float64Array(n * n);
    for (let i = 0; i < n; i++) identity[i * n + i] = 1;
    const { values, vectors } = symmetricEigen(identity, n);
    expect(Array.from(values)).toEqual(new Array(n).fill(1));
    expect(Array.from(vectors)).toEqual(Array.from(identity));
  });
});
