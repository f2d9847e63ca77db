// The whitening stem's kernel, a function of the training images (airbench's init_whitening_conv):
// filters that decorrelate the 2×2 patches and scale each principal direction to unit variance.
import * as tf from "@tensorflow/tfjs-core";
import { ResNetError } from "./errors.js";
import { invalidOption } from "./options.js";
import { symmetricEigen } from "./symmetric-eigen.js";

/** Side of the whitening stem's square patches (and of its conv kernel). */
export const WHITENING_PATCH = 2;

/** Options of {@link whiteningKernel}. */
export interface WhiteningKernelOptions {
  /**
   * Added to each eigenvalue before the square root, so the directions of (nearly) no variance
   * are not blown up: filter k is `v_k / sqrt(λ_k + eps)`. Defaults to `5e-4` (airbench's).
   */
  eps?: number;
}

/** Output channels of the whitening stem for `channels` input channels: ± each patch direction. */
export function whiteningWidth(channels: number): number {
  return 2 * WHITENING_PATCH * WHITENING_PATCH * channels;
}

/**
 * The kernel `[2, 2, c, 8c]` (tfjs layout; `[2, 2, 3, 24]` for RGB) of `fastResNet`'s
 * whitening stem, from `images`: a float32 NHWC tensor `[n, h, w, c]` normalised exactly as
 * the model's inputs are (airbench uses the first 5,000 training images; e.g. one batch of
 * 5,000 from the data loader, unaugmented, which is 61 MB of floats for CIFAR-10).
 *
 * Every 2×2×c patch at stride 1 (`n·(h−1)·(w−1)` of them, flattened in `[dy, dx, channel]`
 * order) enters the second-moment matrix `S = Σ p pᵀ / count`, accumulated in float64. As in
 * airbench it is not centred: the inputs are normalised, so their mean is ≈ 0 and `S` is their
 * covariance. With `S = Σ λ_k v_k v_kᵀ` (a Jacobi eigen-solver, eigenvalues descending, each
 * `v_k`'s largest component positive), output channel `k < 4c` is `v_k / sqrt(λ_k + eps)` and
 * channel `4c + k` its negative, so the stem's outputs on the patches have second moments
 * `λ_k / (λ_k + eps)` ≈ 1 and no correlation; the negated copies let the GELU after the stem
 * keep both signs. (airbench orders the same filters by `torch.linalg.eigh` reversed, i.e.
 * also by eigenvalue descending, with whatever signs eigh returns: the two kernels differ only
 * by swapping channels k and 4c + k for some k.) Negative eigenvalues, which rounding can give
 * for a rank-deficient `S`, count as 0. Reads `images` synchronously (on a GPU backend use
 * {@link whiteningKernelAsync}) and does not dispose it; the returned tensor is the caller's.
 */
export function whiteningKernel(
  images: tf.Tensor,
  options: WhiteningKernelOptions = {},
): tf.Tensor4D {
  const shape = checkImages(images, options);
  return kernelOf(images.dataSync() as Float32Array, shape, images, options);
}

/**
 * {@link whiteningKernel} with `images` read by `await images.data()`: for backends that cannot
 * (WebGPU in Node) or should not (a GPU in a page) be read synchronously. The same kernel.
 */
export async function whiteningKernelAsync(
  images: tf.Tensor,
  options: WhiteningKernelOptions = {},
): Promise<tf.Tensor4D> {
  const shape = checkImages(images, options);
  return kernelOf((await images.data()) as Float32Array, shape, images, options);
}

/** `images`' shape `[n, h, w, c]`, after checking it and the options. */
function checkImages(
  images: tf.Tensor,
  options: WhiteningKernelOptions,
): [number, number, number, number] {
  const { eps = 5e-4 } = options;
  if (!(images instanceof tf.Tensor)) {
    invalidOption("images", "a float32 tf.Tensor [n, height, width, channels]", typeof images);
  }
  const [n = 0, h = 0, w = 0, c = 0] = images.shape;
  if (images.rank !== 4 || images.dtype !== "float32" || n < 1 || h < 2 || w < 2 || c < 1) {
    throw new ResNetError(
      "invalid_option",
      `images: expected a float32 NHWC tensor [n ≥ 1, height ≥ 2, width ≥ 2, channels] of normalised images, got ${images.dtype} [${images.shape.join(", ")}]`,
    );
  }
  if (!(Number.isFinite(eps) && eps > 0)) invalidOption("eps", "a positive number", eps);
  return [n, h, w, c];
}

/** The whitening kernel of the images' values `x` (NHWC `shape`). */
function kernelOf(
  x: Float32Array,
  [n, h, w, c]: [number, number, number, number],
  images: tf.Tensor,
  { eps = 5e-4 }: WhiteningKernelOptions,
): tf.Tensor4D {
  const dim = WHITENING_PATCH * WHITENING_PATCH * c;
  const s = patchSecondMoment(x, n, h, w, c);
  if (!s.every(Number.isFinite)) {
    throw new ResNetError(
      "invalid_option",
      `images: expected finite values, got NaN or Infinity in [${images.shape.join(", ")}]`,
    );
  }
  return whiteningFromSecondMoment(s, dim, eps);
}

/** The filters of {@link whiteningKernel} for a `dim × dim` second-moment matrix `s`. */
export function whiteningFromSecondMoment(
  s: ArrayLike<number>,
  dim: number,
  eps = 5e-4,
): tf.Tensor4D {
  const { values, vectors } = symmetricEigen(s, dim);
  const out = 2 * dim;
  const kernel = new Float32Array(dim * out);
  for (let k = 0; k < dim; k++) {
    const scale = 1 / Math.sqrt(Math.max(values[k]!, 0) + eps);
    for (let i = 0; i < dim; i++) {
      // Patch component i = (dy·2 + dx)·c + channel is also the kernel's [dy, dx, channel] index.
      const f = vectors[k * dim + i]! * scale;
      kernel[i * out + k] = f;
      kernel[i * out + dim + k] = -f;
    }
  }
  const c = dim / (WHITENING_PATCH * WHITENING_PATCH);
  return tf.tensor4d(kernel, [WHITENING_PATCH, WHITENING_PATCH, c, out]);
}

/** `Σ p pᵀ / count` over every 2×2 patch of NHWC `x`, in float64 (row-major, symmetric). */
function patchSecondMoment(x: Float32Array, n: number, h: number, w: number, c: number) {
  const dim = WHITENING_PATCH * WHITENING_PATCH * c;
  const sum = new Float64Array(dim * dim);
  const p = new Float64Array(dim);
  const row = w * c;
  for (let img = 0; img < n; img++) {
    const base = img * h * row;
    for (let y = 0; y + WHITENING_PATCH <= h; y++) {
      for (let xx = 0; xx + WHITENING_PATCH <= w; xx++) {
        let i = 0;
        for (let dy = 0; dy < WHITENING_PATCH; dy++) {
          const at = base + (y + dy) * row + xx * c;
          for (let j = 0; j < WHITENING_PATCH * c; j++) p[i++] = x[at + j]!;
        }
        for (let a = 0; a < dim; a++) {
          const pa = p[a]!;
          const r = a * dim;
          for (let b = a; b < dim; b++) sum[r + b]! += pa * p[b]!;
        }
      }
    }
  }
  const count = n * (h - WHITENING_PATCH + 1) * (w - WHITENING_PATCH + 1);
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = sum[a * dim + b]! / count;
      sum[a * dim + b] = v;
      sum[b * dim + a] = v;
    }
  }
  return sum;
}
