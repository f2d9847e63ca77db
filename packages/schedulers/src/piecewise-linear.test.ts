import { describe, expect, it } from "vitest";
import { PiecewiseLinear } from "./index.js";

describe("PiecewiseLinear", () => {
  it("interpolates the triangular schedule of the fast CIFAR recipes", () => {
    // lr 0 → 0.4 over 5 "epochs" of 2 steps, then → 0 at epoch 24 (step 48).
    const s = new PiecewiseLinear({
      milestones: [0, 10, 48],
      lrs: [0, 0.4, 0],
      momentums: [0.95, 0.85, 0.95],
    });
    expect(s.totalSteps).toBe(48);
    const lrs: number[] = [];
    const moms: number[] = [];
    for (let k = 0; k <= 50; k++) {
      lrs.push(s.lr);
      moms.push(s.momentum as number);
      s.step();
    }
    expect(lrs[0]).toBe(0);
    expect(lrs[5]).toBeCloseTo(0.2, 15);
    expect(lrs[10]).toBe(0.4);
    expect(lrs[29]).toBeCloseTo(0.2, 15);
    expect(lrs[48]).toBe(0);
    expect(lrs[50]).toBe(0); // held flat after the last milestone
    expect(moms[5]).toBeCloseTo(0.9, 15);
    expect(moms[10]).toBe(0.85);
  });

  it("holds the first value before the first milestone and has no momentum unless given", () => {
    const s = new PiecewiseLinear({ milestones: [2, 4], lrs: [0.1, 0.3] });
    expect(s.momentum).toBeUndefined();
    const seen = [s.lr];
    for (let k = 0; k < 5; k++) {
      s.step();
      seen.push(s.lr);
    }
    expect(seen.map((v) => Number(v.toFixed(12)))).toEqual([0.1, 0.1, 0.1, 0.2, 0.3, 0.3]);
  });

  it("rejects unsorted milestones and mismatched value lists", () => {
    expect(() => new PiecewiseLinear({ milestones: [0, 5, 5], lrs: [0, 1, 0] })).toThrow(
      /strictly increasing/,
    );
    expect(() => new PiecewiseLinear({ milestones: [0, 5], lrs: [0] })).toThrow(
      /expected lrs to hold 2 finite numbers .* got \[0\]/,
    );
    expect(
      () => new PiecewiseLinear({ milestones: [0, 5], lrs: [0, 1], momentums: [0.9, Number.NaN] }),
    ).toThrow(/momentums/);
  });

  it("resumes from its state", () => {
    const options = { milestones: [0, 7, 20], lrs: [0.01, 0.5, 0.001] };
    const a = new PiecewiseLinear(options);
    for (let k = 0; k < 9; k++) a.step();
    const b = new PiecewiseLinear(options);
    b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
    expect(b.stepCount).toBe(9);
    expect(b.lr).toBe(a.lr);
    a.step();
    b.step();
    expect(b.lr).toBe(a.lr);
  });
});
