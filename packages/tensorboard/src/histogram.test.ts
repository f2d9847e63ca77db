import { describe, expect, it } from "vitest";
import { buildHistogram, tensorflowBucketLimits } from "./histogram.js";

describe("tensorflowBucketLimits", () => {
  const limits = tensorflowBucketLimits();

  it("has TensorFlow's 1549 limits: ±(1e-12 · 1.1^k below 1e20), 0 and ±DBL_MAX", () => {
    // 1e-12 · 1.1^k < 1e20 for k = 0 … 773 (774 values), plus DBL_MAX, mirrored, plus 0.
    expect(limits.length).toBe(2 * 775 + 1);
    expect(limits[0]).toBe(-Number.MAX_VALUE);
    expect(limits[775]).toBe(0);
    expect(limits[776]).toBe(1e-12);
    expect(limits[limits.length - 2]).toBeLessThan(1e20);
    expect(limits[limits.length - 2]! * 1.1).toBeGreaterThanOrEqual(1e20);
    expect(limits[limits.length - 1]).toBe(Number.MAX_VALUE);
  });

  it("is strictly increasing and symmetric around 0", () => {
    for (let i = 1; i < limits.length; i++) expect(limits[i]!).toBeGreaterThan(limits[i - 1]!);
    for (let i = 0; i < limits.length; i++) {
      expect(limits[i]! + limits[limits.length - 1 - i]!).toBe(0);
    }
  });
});

describe("buildHistogram", () => {
  it("computes min, max, num, sum and sum of squares", () => {
    const h = buildHistogram([1, -2, 3], "tensorflow");
    expect([h.min, h.max, h.num, h.sum, h.sumSquares]).toEqual([-2, 3, 3, 2, 14]);
  });

  it("puts a value equal to a limit in the bucket that starts there, as TensorFlow does", () => {
    // 0 is a limit: it belongs to [0, 1e-12), the bucket ending at 1e-12.
    const h = buildHistogram([0], "tensorflow");
    expect(h.bucketLimit).toEqual([1e-12]);
    expect(h.bucket).toEqual([1]);
  });

  it("drops empty buckets at the ends and collapses interior empty runs into one", () => {
    const limits = tensorflowBucketLimits();
    const h = buildHistogram([1, 1000], "tensorflow");
    // Exactly three buckets remain: 1's, one empty bucket spanning the gap, 1000's.
    expect(h.bucket).toEqual([1, 0, 1]);
    const k1 = limits.findIndex((l) => l > 1);
    const k1000 = limits.findIndex((l) => l > 1000);
    expect(h.bucketLimit).toEqual([limits[k1], limits[k1000 - 1], limits[k1000]]);
  });

  it("splits [min, max] into equal-width bins when asked, max in the last", () => {
    const h = buildHistogram([0, 1, 2, 3, 4], 4);
    expect(h.bucketLimit).toEqual([1, 2, 3, 4]);
    expect(h.bucket).toEqual([1, 1, 1, 2]);
  });

  it("puts a constant input in one bucket when equal-width bins have no width", () => {
    const h = buildHistogram([2, 2, 2], 10);
    expect(h.bucketLimit).toEqual([2]);
    expect(h.bucket).toEqual([3]);
  });
});
