import { describe, expect, it } from "vitest";
import { formatNumber, formatTick, linearTicks, logTicks, niceStep } from "./ticks.js";

describe("ticks", () => {
  it("picks round steps", () => {
    expect(niceStep(10, 5)).toBe(2);
    expect(niceStep(1, 5)).toBe(0.2);
    expect(niceStep(2.3, 5)).toBe(0.5);
    expect(niceStep(1000, 4)).toBe(250);
  });

  it("extends the y domain to enclosing ticks", () => {
    expect(linearTicks(0.13, 2.31, 5)).toEqual({
      min: 0,
      max: 2.5,
      ticks: [0, 0.5, 1, 1.5, 2, 2.5],
      step: 0.5,
    });
    expect(linearTicks(0.1, 0.3, 5).ticks).toEqual([0.1, 0.15, 0.2, 0.25, 0.3]);
  });

  it("keeps the x domain exact and only inner ticks", () => {
    const t = linearTicks(0, 1953, 5, false);
    expect([t.min, t.max]).toEqual([0, 1953]);
    expect(t.ticks).toEqual([0, 500, 1000, 1500]);
  });

  it("keeps integer axes on whole steps", () => {
    expect(linearTicks(0, 3, 6, false, true).ticks).toEqual([0, 1, 2, 3]);
    expect(linearTicks(0, 3, 6, false).ticks).toContain(0.5);
  });

  it("gives a flat series a band around its value", () => {
    const t = linearTicks(5, 5);
    expect(t.min).toBeLessThan(5);
    expect(t.max).toBeGreaterThan(5);
    expect(linearTicks(0, 0).ticks).toContain(0);
  });

  it("uses decades on log axes, with 2× and 5× for short ranges", () => {
    expect(logTicks(4e-4, 1e-2).ticks).toEqual([1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2]);
    const wide = logTicks(1e-6, 3);
    expect(wide.ticks).toEqual([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10]);
    expect(wide.labels).toEqual(["1e-6", "1e-5", "1e-4", "1e-3", "1e-2", "1e-1", "1e+0", "1e+1"]);
    expect(logTicks(0.01, 0.5).labels).toEqual(["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1"]);
    expect([wide.min, wide.max]).toEqual([1e-6, 10]);
  });

  it("labels ticks with the decimals the step needs", () => {
    expect(formatTick(0.5, 0.25)).toBe("0.50");
    expect(formatTick(0.25, 0.25)).toBe("0.25");
    expect(formatTick(1000, 500)).toBe("1000");
    expect(formatTick(0.002, 0.001)).toBe("0.002");
    expect(formatTick(0.0004, 0.0001)).toBe("4e-4");
    expect(formatTick(2.5e6, 5e5)).toBe("2.5e+6");
    expect(formatTick(0, 0.1)).toBe("0.0");
    expect(formatTick(0, 1)).toBe("0");
  });

  it("formats values with 3 significant digits", () => {
    expect(formatNumber(0.93214)).toBe("0.932");
    expect(formatNumber(12)).toBe("12");
    expect(formatNumber(1234.5)).toBe("1235");
    expect(formatNumber(0.000123)).toBe("1.23e-4");
    expect(formatNumber(Number.NaN)).toBe("NaN");
  });
});
