// Histograms bucketed the way TensorFlow's summary ops bucket them, so TensorBoard draws ours
// like any other run's.
import type { TfHistogram } from "./event-proto.js";

/** How to bucket a histogram. */
export interface HistogramOptions {
  /**
   * `"tensorflow"`: TensorFlow's default exponential buckets (±1e-12 … ±1e20, ratio 1.1, plus 0),
   * so histograms line up across runs and tools. A number: that many equal-width buckets
   * between the minimum and the maximum. Defaults to `"tensorflow"`.
   */
  bins?: "tensorflow" | number;
}

let defaultLimits: Float64Array | undefined;

/**
 * TensorFlow's default bucket limits (tsl/lib/histogram/histogram.cc): 1e-12 growing by 1.1
 * up to 1e20, mirrored for negatives, with 0 between them and ±DBL_MAX at the ends.
 */
export function tensorflowBucketLimits(): Float64Array {
  if (defaultLimits) return defaultLimits;
  const positive: number[] = [];
  for (let v = 1e-12; v < 1e20; v *= 1.1) positive.push(v);
  positive.push(Number.MAX_VALUE);
  const limits = new Float64Array(positive.length * 2 + 1);
  for (let i = 0; i < positive.length; i++) {
    limits[positive.length - 1 - i] = -positive[i]!;
    limits[positive.length + 1 + i] = positive[i]!;
  }
  limits[positive.length] = 0;
  defaultLimits = limits;
  return limits;
}

/**
 * Builds a `HistogramProto` of finite `values` (the caller validates). Empty buckets are
 * dropped at both ends, and each interior run of empty buckets collapses into one bucket ending
 * where the run ends, as TensorFlow's `Histogram::EncodeToProto` does: every remaining bucket
 * still starts where the previous one ends, so the picture is unchanged and the event is small.
 */
export function buildHistogram(
  values: ArrayLike<number>,
  bins: "tensorflow" | number,
): TfHistogram {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let sumSquares = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
    sumSquares += x * x;
  }
  const { limits, counts } =
    bins === "tensorflow" ? countTensorflow(values) : countUniform(values, bins, min, max);

  const bucketLimit: number[] = [];
  const bucket: number[] = [];
  let first = 0;
  while (first < counts.length && counts[first] === 0) first++;
  let last = counts.length - 1;
  while (last >= 0 && counts[last] === 0) last--;
  for (let i = first; i <= last; i++) {
    if (counts[i] === 0 && bucket.length > 0 && bucket[bucket.length - 1] === 0) {
      bucketLimit[bucketLimit.length - 1] = limits[i]!;
      continue;
    }
    bucketLimit.push(limits[i]!);
    bucket.push(counts[i]!);
  }
  return { min, max, num: values.length, sum, sumSquares, bucketLimit, bucket };
}

function countTensorflow(values: ArrayLike<number>): {
  limits: Float64Array;
  counts: Float64Array;
} {
  const limits = tensorflowBucketLimits();
  const counts = new Float64Array(limits.length);
  for (let i = 0; i < values.length; i++) counts[upperBound(limits, values[i]!)]! += 1;
  return { limits, counts };
}

// Index of the first limit strictly greater than x: bucket i holds [limit(i-1), limit(i)).
function upperBound(limits: Float64Array, x: number): number {
  let lo = 0;
  let hi = limits.length - 1; // the last limit is DBL_MAX, above every finite value but itself
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (limits[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function countUniform(
  values: ArrayLike<number>,
  bins: number,
  min: number,
  max: number,
): { limits: Float64Array; counts: Float64Array } {
  // A constant tensor has no width to split: one bucket holding everything, ending at max.
  const width = max > min ? (max - min) / bins : 0;
  const n = width > 0 ? bins : 1;
  const limits = new Float64Array(n);
  for (let i = 0; i < n; i++) limits[i] = i === n - 1 ? max : min + width * (i + 1);
  const counts = new Float64Array(n);
  for (let i = 0; i < values.length; i++) {
    const k = width > 0 ? Math.min(n - 1, Math.floor((values[i]! - min) / width)) : 0;
    counts[k]! += 1;
  }
  return { limits, counts };
}
