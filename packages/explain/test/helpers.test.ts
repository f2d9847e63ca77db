// The comparison helper must fail on a NaN wherever it sits, not only when it comes last.
import { describe, expect, it } from "vitest";
import { expectAllClose } from "./helpers.js";

describe("expectAllClose", () => {
  it("fails when any element is NaN, first, middle or last", () => {
    for (const at of [0, 1, 3]) {
      const actual = [1, 2, 3, 4];
      actual[at] = Number.NaN;
      expect(() => expectAllClose(actual, [1, 2, 3, 4], 1e-3, `NaN at ${at}`)).toThrow(
        `NaN at ${at}: max abs difference`,
      );
    }
  });

  it("passes within the tolerance and fails beyond it", () => {
    expectAllClose([1, 2.0005], [1, 2], 1e-3, "close");
    expect(() => expectAllClose([1, 2.1], [1, 2], 1e-3, "far")).toThrow("far");
  });
});
