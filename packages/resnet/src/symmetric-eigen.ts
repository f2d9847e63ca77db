// Eigen-decomposition of a small real symmetric matrix by cyclic Jacobi rotations, in float64:
// what the whitening stem needs for its 12×12 patch covariance, with no linear-algebra library.

/** Eigenvalues (descending) and unit eigenvectors of a symmetric matrix. */
export interface SymmetricEigen {
  /** The `n` eigenvalues, largest first. */
  readonly values: Float64Array;
  /** Row-major `n × n`: row `k` is the unit eigenvector of `values[k]`, its largest-magnitude component positive. */
  readonly vectors: Float64Array;
}

/**
 * Decomposes the symmetric `n × n` matrix `matrix` (row-major; only its upper triangle is
 * read) as `A = Σ_k values[k] · v_k v_kᵀ`. Each sweep rotates every off-diagonal pair (p, q)
 * to zero (Jacobi 1846; the rotation formulas as in Numerical Recipes §11.1); sweeps stop when
 * the off-diagonal part is zero to float64 precision, in 6–10 sweeps for a 12×12 matrix.
 * Eigenvectors of a repeated eigenvalue are any orthonormal basis of its space.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): SymmetricEigen {
  const a = new Float64Array(n * n);
  for (let p = 0; p < n; p++) {
    for (let q = p; q < n; q++) {
      const v = matrix[p * n + q]!;
      a[p * n + q] = v;
      a[q * n + p] = v;
    }
  }
  // v's columns become the eigenvectors: v = Π J over every rotation.
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const offDiagonal = () => {
    let s = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) s += a[p * n + q]! ** 2;
    return s;
  };
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += a[i]! ** 2;
  for (let sweep = 0; sweep < 100 && offDiagonal() > 1e-30 * scale; sweep++) {
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        // The rotation angle that zeroes a[p][q]: t = tan φ, the smaller root of t² + 2θt − 1 = 0.
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ A J, with J the identity but J[p][p] = J[q][q] = c, J[p][q] = s, J[q][p] = −s.
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = [...Array(n).keys()].sort((i, j) => a[j * n + j]! - a[i * n + i]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((col, k) => {
    values[k] = a[col * n + col]!;
    // A deterministic sign: the component of largest magnitude (the first such) is positive.
    let big = 0;
    for (let i = 1; i < n; i++) {
      if (Math.abs(v[i * n + col]!) > Math.abs(v[big * n + col]!)) big = i;
    }
    const sign = v[big * n + col]! < 0 ? -1 : 1;
    for (let i = 0; i < n; i++) vectors[k * n + i] = sign * v[i * n + col]!;
  });
  return { values, vectors };
}
