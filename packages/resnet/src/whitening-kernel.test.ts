import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { fixture, fixtureTensor, maxScaledDiff, useCpu } from "../test/helpers.js";
import { ResNetError, whiteningKernel } from "./index.js";

beforeAll(useCpu);

/** Images whose 2×2 patches are strongly correlated: channels mixed, neighbours smoothed. */
function correlatedImages(n: number, size: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => {
    const raw = tf.randomNormal([n, size + 1, size + 1, 3], 0, 1, "float32", seed);
    const mix = tf.tensor2d(
      [
        [1, 0, 0],
        [0.6, 0.8, 0],
        [0.3, 0.5, 0.4],
      ],
      [3, 3],
    );
    const mixed = tf.reshape(tf.matMul(tf.reshape(raw, [-1, 3]), mix), [
      n,
      size + 1,
      size + 1,
      3,
    ]) as tf.Tensor4D;
    const at = (dy: number, dx: number) => tf.slice(mixed, [0, dy, dx, 0], [n, size, size, 3]);
    // Plus a constant offset, so the uncentred second moment differs from the covariance.
    return tf.add(tf.addN([at(1, 1), tf.mul(at(0, 1), 0.5), tf.mul(at(1, 0), 0.25)]), 0.1);
  }) as tf.Tensor4D;
}

/** Every 2×2 patch of `images` as the rows of a [count, 4c] matrix, in [dy, dx, c] order. */
function patches(images: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, h, w, c] = images.shape;
    const parts = [];
    for (const dy of [0, 1]) {
      for (const dx of [0, 1]) parts.push(tf.slice(images, [0, dy, dx, 0], [n, h - 1, w - 1, c]));
    }
    return tf.reshape(tf.concat(parts, 3), [-1, 4 * c]) as tf.Tensor2D;
  });
}

/** Σ yᵀ y / count for the rows of y. */
const secondMoment = (y: tf.Tensor2D) => tf.div(tf.matMul(y, y, true, false), y.shape[0]);

describe("whiteningKernel", () => {
  it("whitens the patches: the stem's outputs have identity second moments on the 12 positive channels", () => {
    const before = tf.memory().numTensors;
    const images = correlatedImages(16, 12, 1);
    // A tiny eps so λ/(λ+eps) is 1 to float32 precision.
    const kernel = whiteningKernel(images, { eps: 1e-9 });
    expect(kernel.shape).toEqual([2, 2, 3, 24]);
    tf.tidy(() => {
      const p = patches(images);
      const y = tf.matMul(p, tf.reshape(kernel, [12, 24])) as tf.Tensor2D;
      const positive = tf.slice(y, [0, 0], [-1, 12]) as tf.Tensor2D;
      const s = secondMoment(positive);
      expect(maxScaledDiff(s.dataSync(), tf.eye(12).dataSync())).toBeLessThan(1e-4);
      // The raw patches were far from white (the control).
      expect(maxScaledDiff(secondMoment(p).dataSync(), tf.eye(12).dataSync())).toBeGreaterThan(0.5);
      // The stem as the model runs it (a 2×2 valid conv) gives the same outputs.
      const conv = tf.conv2d(images, kernel, 1, "valid");
      expect(maxScaledDiff(conv.dataSync(), y.dataSync())).toBeLessThan(1e-4);
      // The other 12 channels are the negatives.
      expectNegated(kernel);
    });
    tf.dispose([images, kernel]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("with the default eps 5e-4, scales direction k to second moment λ_k / (λ_k + eps), largest λ first", () => {
    const images = correlatedImages(8, 10, 2);
    tf.tidy(() => {
      const p = patches(images);
      const tight = whiteningKernel(images, { eps: 1e-9 });
      const kernel = whiteningKernel(images);
      const y = tf.matMul(p, tf.slice(tf.reshape(kernel, [12, 24]), [0, 0], [12, 12]));
      const s = secondMoment(y as tf.Tensor2D).arraySync() as number[][];
      // With eps → 0 filter k is v_k/sqrt(λ_k): its squared norm is 1/λ_k, so λ_k comes back.
      const w = tf.slice(tf.reshape(tight, [12, 24]), [0, 0], [12, 12]);
      const lambdas = Array.from(tf.div(1, tf.sum(tf.square(w), 0)).dataSync());
      for (let k = 0; k < 12; k++) {
        if (k > 0) expect(lambdas[k]!).toBeLessThanOrEqual(lambdas[k - 1]! * (1 + 1e-5));
        const expected = lambdas[k]! / (lambdas[k]! + 5e-4);
        expect(Math.abs(s[k]![k]! - expected)).toBeLessThan(1e-4);
        for (let l = 0; l < 12; l++) if (l !== k) expect(Math.abs(s[k]![l]!)).toBeLessThan(1e-4);
      }
      // The default eps matters for the small directions only.
      expect(lambdas[11]!).toBeLessThan(lambdas[0]! / 10);
    });
    images.dispose();
  });

  it("matches airbench94's kernel computed by PyTorch (eigh), up to which of ±v_k comes first", () => {
    const io = fixture("fast-resnet-w8.io.safetensors");
    const state = fixture("fast-resnet-w8.safetensors");
    tf.tidy(() => {
      const images = fixtureTensor(io, "whiten_images");
      const ours = whiteningKernel(images).arraySync();
      // PyTorch [out, in, kh, kw] → tfjs [kh, kw, in, out].
      const torch = tf
        .transpose(fixtureTensor(state, "0.weight"), [2, 3, 1, 0])
        .arraySync() as number[][][][];
      const filter = (k: tf.TensorLike, o: number) =>
        (k as number[][][][]).flatMap((row) => row.flatMap((px) => px.map((ch) => ch[o]!)));
      for (let k = 0; k < 12; k++) {
        const a = filter(ours, k);
        const same = maxScaledDiff(a, filter(torch, k));
        const flipped = maxScaledDiff(a, filter(torch, k + 12));
        expect(Math.min(same, flipped), `filter ${k}`).toBeLessThan(1e-4);
        // Not vacuous: v_k and −v_k are far apart, so the match above is one of them.
        expect(Math.max(same, flipped)).toBeGreaterThan(0.1);
        expect(
          maxScaledDiff(
            filter(ours, k + 12),
            a.map((v) => -v),
          ),
        ).toBe(0);
      }
    });
  });

  it("refuses what is not a float32 NHWC tensor of finite values", () => {
    const bad = [
      tf.zeros([2, 8, 8]),
      tf.zeros([2, 8, 8, 3], "int32"),
      tf.zeros([2, 1, 8, 3]),
      tf.fill([1, 4, 4, 3], Number.NaN),
    ];
    for (const t of bad) expect(() => whiteningKernel(t)).toThrow(ResNetError);
    expect(() => whiteningKernel(bad[0]!)).toThrow(
      "images: expected a float32 NHWC tensor [n ≥ 1, height ≥ 2, width ≥ 2, channels] of normalised images, got float32 [2, 8, 8]",
    );
    const ok = tf.zeros([1, 4, 4, 3]);
    expect(() => whiteningKernel(ok, { eps: 0 })).toThrow("eps: expected a positive number, got 0");
    tf.dispose([...bad, ok]);
  });
});

/** Output channel 12 + k of the kernel is the negative of channel k. */
function expectNegated(kernel: tf.Tensor4D): void {
  const w = tf.reshape(kernel, [12, 24]);
  const pos = tf.slice(w, [0, 0], [12, 12]);
  const neg = tf.slice(w, [0, 12], [12, 12]);
  expect(Array.from(tf.neg(pos).dataSync())).toEqual(Array.from(neg.dataSync()));
}
