import { describe, expect, it } from "vitest";
import golden from "./__fixtures__/chainable.json" with { type: "json" };
import {
  ConstantLR,
  CosineAnnealingLR,
  type LRSchedule,
  MultiStepLR,
  ScheduleError,
  StepLR,
} from "./index.js";

interface GoldenCase {
  name: string;
  baseLr: number;
  options: Record<string, number | number[]>;
  lr: number[];
}

function build(c: GoldenCase): LRSchedule & { stepCount: number } {
  const o = c.options;
  switch (c.name) {
    case "StepLR":
      return new StepLR({
        baseLr: c.baseLr,
        stepSize: o.step_size as number,
        gamma: o.gamma as number,
      });
    case "MultiStepLR":
      return new MultiStepLR({
        baseLr: c.baseLr,
        milestones: o.milestones as number[],
        gamma: o.gamma as number,
      });
    case "ConstantLR":
      return new ConstantLR({
        baseLr: c.baseLr,
        factor: o.factor as number,
        totalIters: o.total_iters as number,
      });
    case "CosineAnnealingLR":
      return new CosineAnnealingLR({
        baseLr: c.baseLr,
        tMax: o.T_max as number,
        etaMin: (o.eta_min as number | undefined) ?? 0,
      });
    default:
      throw new Error(`no builder for ${c.name}`);
  }
}

describe("chainable schedules against PyTorch 1.13 (golden fixtures)", () => {
  for (const c of golden.cases as unknown as GoldenCase[]) {
    it(`${c.name} ${JSON.stringify(c.options)}: every step to 1e-12 relative`, () => {
      const s = build(c);
      expect(s.momentum).toBeUndefined();
      let worst = 0;
      c.lr.forEach((expected, k) => {
        if (k > 0) s.step();
        const diff = Math.abs(s.lr - expected);
        worst = Math.max(worst, expected === 0 ? diff : diff / Math.abs(expected));
      });
      expect(s.stepCount).toBe(c.lr.length - 1);
      expect(worst).toBeLessThanOrEqual(1e-12);
    });

    it(`${c.name} ${JSON.stringify(c.options)}: resumes from a JSON state with identical values`, () => {
      const half = Math.floor(c.lr.length / 2);
      const a = build(c);
      for (let k = 0; k < half; k++) a.step();
      const b = build(c);
      b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
      for (let k = half; k < c.lr.length; k++) {
        expect(b.lr).toBe(a.lr);
        a.step();
        b.step();
      }
    });
  }

  it("rejects invalid options with the option named", () => {
    expect(() => new StepLR({ baseLr: 0.1, stepSize: 0 })).toThrow(
      /StepLR: expected stepSize to be a positive integer, got 0/,
    );
    expect(() => new MultiStepLR({ baseLr: 0.1, milestones: [3, -1] })).toThrow(
      /milestones .* got \[3, -1\]/,
    );
    expect(() => new ConstantLR({ baseLr: 0.1, factor: 0 })).toThrow(
      /factor to be a finite number > 0, got 0/,
    );
    expect(() => new ConstantLR({ baseLr: 0.1, factor: 2 })).toThrow(/factor in \[0, 1\], got 2/);
    expect(() => new CosineAnnealingLR({ baseLr: -1, tMax: 3 })).toThrow(ScheduleError);
  });

  it("refuses a state from another schedule type or other options", () => {
    const cos = new CosineAnnealingLR({ baseLr: 0.1, tMax: 10 });
    expect(() => cos.loadStateDict(new StepLR({ baseLr: 0.1, stepSize: 2 }).stateDict())).toThrow(
      /expected a CosineAnnealingLR state, got one from "StepLR"/,
    );
    expect(() =>
      cos.loadStateDict(new CosineAnnealingLR({ baseLr: 0.1, tMax: 11 }).stateDict()),
    ).toThrow(/saved with tMax=11 but this schedule has tMax=10/);
    expect(() => cos.loadStateDict({ ...cos.stateDict(), lr: "x" })).toThrow(
      /finite number in "lr"/,
    );
  });
});
