import { describe, expect, it } from "vitest";
import fixtures from "./__fixtures__/cross-entropy.json" with { type: "json" };
import { crossEntropy, MetricsError } from "./index.js";

describe("crossEntropy", () => {
  it("matches a hand-computed case", () => {
    // Row 0: log(e^2 + 2) − 2; row 1: log(e^3 + 2) − 3.
    const expected = (Math.log(Math.exp(2) + 2) - 2 + Math.log(Math.exp(3) + 2) - 3) / 2;
    const loss = crossEntropy(new Float32Array([2, 0, 0, 0, 3, 0]), [0, 1], { numClasses: 3 });
    expect(loss).toBeCloseTo(expected, 12);
  });

  it("is log(K) for all-equal logits, with or without smoothing", () => {
    const logits = new Float32Array(4 * 10).fill(7);
    const labels = new Int32Array([0, 3, 5, 9]);
    expect(crossEntropy(logits, labels, { numClasses: 10 })).toBeCloseTo(Math.log(10), 12);
    expect(crossEntropy(logits, labels, { numClasses: 10, labelSmoothing: 0.3 })).toBeCloseTo(
      Math.log(10),
      12,
    );
  });

  it.each(fixtures.cases)("matches PyTorch F.cross_entropy: $name", (c) => {
    const loss = crossEntropy(new Float32Array(c.logits), c.labels, {
      numClasses: c.numClasses,
      labelSmoothing: c.labelSmoothing,
    });
    expect(Number.isFinite(loss)).toBe(true);
    // Both sides compute in float64 from the same float32 logits.
    expect(loss).toBeCloseTo(c.loss, 9);
  });

  it("stays finite for logits that overflow a naive exp()", () => {
    const loss = crossEntropy(new Float32Array([1e4, -1e4, 0]), [1], { numClasses: 3 });
    expect(loss).toBe(2e4);
  });

  it("rejects bad options and bad input with MetricsError", () => {
    const logits = new Float32Array(6);
    expect(() => crossEntropy(logits, [0, 1])).toThrow(/numClasses to be an integer ≥ 2/);
    expect(() => crossEntropy(logits, [0, 1], { numClasses: 3, labelSmoothing: 1 })).toThrow(
      /labelSmoothing in \[0, 1\), got 1/,
    );
    expect(() => crossEntropy(logits, [0, 3], { numClasses: 3 })).toThrow(MetricsError);
    expect(() => crossEntropy(new Float32Array(0), [], { numClasses: 3 })).toThrow(
      /at least one row/,
    );
  });
});

describe("crossEntropy of ±Infinity logits", () => {
  it("takes softmax's limit: 0, ln(sharing classes), or +Infinity", () => {
    const inf = Number.POSITIVE_INFINITY;
    expect(crossEntropy(new Float32Array([inf, 0, -inf]), [0], { numClasses: 3 })).toBe(0);
    expect(crossEntropy(new Float32Array([inf, 1, inf]), [2], { numClasses: 3 })).toBeCloseTo(
      Math.log(2),
      12,
    );
    expect(crossEntropy(new Float32Array([-inf, -inf, -inf]), [1], { numClasses: 3 })).toBeCloseTo(
      Math.log(3),
      12,
    );
    expect(crossEntropy(new Float32Array([1, -inf, 0]), [1], { numClasses: 3 })).toBe(inf);
    expect(
      crossEntropy(new Float32Array([inf, 0, -inf]), [0], { numClasses: 3, labelSmoothing: 0.1 }),
    ).toBe(inf);
  });
});
