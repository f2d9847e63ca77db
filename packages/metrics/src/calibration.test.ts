import { describe, expect, it } from "vitest";
import { CalibrationBins } from "./calibration.js";
import { MetricsError } from "./index.js";

describe("CalibrationBins", () => {
  it("computes ECE and MCE by hand", () => {
    const bins = new CalibrationBins(10);
    bins.add(0.95, true);
    bins.add(0.95, false);
    bins.add(0.55, true);
    bins.add(0.5, false); // upper edge is inclusive: (0.4, 0.5]
    const r = bins.result();
    expect(r.bins).toHaveLength(10);
    expect(r.bins[9]).toEqual({ lower: 0.9, upper: 1, count: 2, accuracy: 0.5, confidence: 0.95 });
    expect(r.bins[5]).toMatchObject({ count: 1, accuracy: 1, confidence: 0.55 });
    expect(r.bins[4]).toMatchObject({ count: 1, accuracy: 0, confidence: 0.5 });
    expect(r.bins[0]).toMatchObject({ count: 0, accuracy: 0, confidence: 0 });
    expect(r.ece).toBeCloseTo(0.5 * 0.45 + 0.25 * 0.45 + 0.25 * 0.5, 12);
    expect(r.mce).toBeCloseTo(0.5, 12);
    expect(r.meanConfidence).toBeCloseTo((0.95 * 2 + 0.55 + 0.5) / 4, 12);
  });

  it("is 0 for a perfectly calibrated set and merges", () => {
    const a = new CalibrationBins(4);
    const b = new CalibrationBins(4);
    // Confidence 0.75 right 3 times out of 4.
    a.add(0.75, true);
    a.add(0.75, true);
    b.add(0.75, true);
    b.add(0.75, false);
    a.merge(b);
    expect(a.result().ece).toBeCloseTo(0, 12);
    expect(a.result().bins[2]!.count).toBe(4);
    expect(() => new CalibrationBins(0)).toThrow(MetricsError);
  });
});
