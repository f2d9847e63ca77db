// The comparison helpers must fail on a NaN wherever it sits, not only when it comes last.
import { describe, expect, it } from "vitest";
import { maxScaledDiff } from "./helpers.js";

describe("maxScaledDiff", () => {
  it("is NaN when any element is NaN, first, middle or last", () => {
    const expected = [1, 2, 3, 4];
    for (const at of [0, 1, 3]) {
      const actual = [1, 2, 3, 4];
      actual[at] = Number.NaN;
      expect(maxScaledDiff(actual, expected), `NaN at ${at}`).toBeNaN();
      expect(maxScaledDiff(expected, actual), `expected NaN at ${at}`).toBeNaN();
    }
  });

  it("is the worst scaled difference otherwise", () => {
    expect(maxScaledDiff([1, 2.5, 30], [1, 2, 20])).toBe(0.5);
    expect(maxScaledDiff([0.1, 0.2], [0.1, 0.2])).toBe(0);
  });
});
