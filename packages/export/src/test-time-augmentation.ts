// Test-time augmentation: a classifier's logits averaged over a few fixed views of each image
// (mirror, one-pixel shifts), as the fast CIFAR-10 recipes evaluate. Used by `predict` and by
// the trainer's evaluation, so the accuracy a run reports is the one `predict` reproduces.
import * as tf from "@tensorflow/tfjs-core";
import { ExportError } from "./errors.js";

/**
 * How many views: `0` the image alone; `1` the mean of the image and its mirror; `2` half of
 * level 1, and half the mean of the mirrored pair shifted one pixel up-left and one pixel
 * down-right (reflect padding), as airbench evaluates: 6 forward passes per image.
 */
export type TTALevel = 0 | 1 | 2;

/** One view of a batch: mirrored or not, shifted by `shift` pixels down and right, and its weight. */
export interface TTAView {
  readonly mirror: boolean;
  /** Pixels the content moves down and right (−1 = up and left); 0 = unshifted. */
  readonly shift: -1 | 0 | 1;
  readonly weight: number;
}

/** The views of each level and their weights (they sum to 1). */
export function ttaViews(level: TTALevel): readonly TTAView[] {
  checkLevel(level);
  if (level === 0) return [{ mirror: false, shift: 0, weight: 1 }];
  if (level === 1) {
    return [
      { mirror: false, shift: 0, weight: 0.5 },
      { mirror: true, shift: 0, weight: 0.5 },
    ];
  }
  return [
    { mirror: false, shift: 0, weight: 0.25 },
    { mirror: true, shift: 0, weight: 0.25 },
    { mirror: false, shift: 1, weight: 0.125 },
    { mirror: true, shift: 1, weight: 0.125 },
    { mirror: false, shift: -1, weight: 0.125 },
    { mirror: true, shift: -1, weight: 0.125 },
  ];
}

function checkLevel(level: unknown): asserts level is TTALevel {
  if (level !== 0 && level !== 1 && level !== 2) {
    throw new ExportError(
      "invalid_option",
      `test-time augmentation level: expected 0, 1 or 2, got ${JSON.stringify(level)}`,
    );
  }
}

/**
 * The view of an NHWC batch: shifted first (reflect-padded by one pixel, then cropped back), then
 * mirrored left-right. A new tensor; `x` is not disposed.
 */
export function ttaView(x: tf.Tensor4D, view: TTAView): tf.Tensor4D {
  return tf.tidy(() => {
    let v = x;
    if (view.shift !== 0) {
      const [n, h, w, c] = x.shape;
      const padded = tf.mirrorPad(
        x,
        [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ],
        "reflect",
      );
      const at = view.shift === 1 ? 0 : 2;
      v = tf.slice(padded, [0, at, at, 0], [n, h, w, c]);
    }
    return view.mirror ? tf.reverse(v, 2) : view.shift === 0 ? tf.clone(v) : v;
  });
}

/**
 * Logits of `x` averaged over the views of `level`, weighted as {@link ttaViews} says.
 * `logitsOf` runs the model in inference mode on one view, e.g.
 * `(v) => model.apply(v, { training: false }) as tf.Tensor2D`. Leaves only the result.
 */
export function ttaLogits(
  logitsOf: (x: tf.Tensor4D) => tf.Tensor2D,
  x: tf.Tensor4D,
  level: TTALevel,
): tf.Tensor2D {
  const views = ttaViews(level);
  if (level === 0) return tf.tidy(() => logitsOf(x));
  return tf.tidy(() => {
    let sum: tf.Tensor2D | null = null;
    for (const view of views) {
      const logits = tf.mul(logitsOf(ttaView(x, view)), view.weight) as tf.Tensor2D;
      sum = sum === null ? logits : (tf.add(sum, logits) as tf.Tensor2D);
    }
    return sum as tf.Tensor2D;
  });
}

/**
 * {@link ttaLogits} for a runner that takes host arrays (an exported tfjs or ONNX artifact):
 * each view is made with tfjs ops on the current backend, read back, and run.
 */
export async function ttaLogitsAsync(
  run: (inputs: Float32Array, count: number) => Promise<Float32Array>,
  inputs: Float32Array,
  shape: readonly [number, number, number, number],
  level: TTALevel,
): Promise<Float32Array> {
  const views = ttaViews(level);
  if (level === 0) return run(inputs, shape[0]);
  const x = tf.tensor4d(inputs, [...shape], "float32");
  let sum: Float32Array | null = null;
  try {
    for (const view of views) {
      const v = ttaView(x, view);
      let data: Float32Array;
      try {
        data = (await v.data()) as Float32Array;
      } finally {
        v.dispose();
      }
      const logits = await run(data, shape[0]);
      if (sum === null) sum = new Float32Array(logits.length);
      for (let i = 0; i < logits.length; i++) sum[i]! += view.weight * logits[i]!;
    }
  } finally {
    x.dispose();
  }
  return sum as Float32Array;
}
