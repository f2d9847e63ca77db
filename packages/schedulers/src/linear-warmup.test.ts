import { describe, expect, it } from "vitest";
import { CosineAnnealingLR, LinearWarmup, OneCycleLR, sampleSchedule } from "./index.js";

describe("LinearWarmup", () => {
  it("ramps to the wrapped schedule's first lr, then hands over at its step 0", () => {
    const s = new LinearWarmup({
      warmupSteps: 4,
      startFactor: 0.2,
      schedule: new CosineAnnealingLR({ baseLr: 1, tMax: 6 }),
    });
    expect(s.totalSteps).toBe(10);
    const lrs = sampleSchedule(s, 11).map((x) => x.lr);
    expect(lrs.slice(0, 4).map((v) => Number(v.toFixed(12)))).toEqual([0.2, 0.4, 0.6, 0.8]);
    const cos = sampleSchedule(new CosineAnnealingLR({ baseLr: 1, tMax: 6 }), 7).map((x) => x.lr);
    expect(lrs.slice(4)).toEqual(cos);
  });

  it("passes the wrapped schedule's momentum through and resumes from nested state", () => {
    const make = () =>
      new LinearWarmup({
        warmupSteps: 3,
        schedule: new OneCycleLR({ maxLr: 0.1, totalSteps: 12 }),
      });
    const a = make();
    expect(a.momentum).toBe(0.95);
    expect(a.lr).toBeCloseTo((0.1 / 25) * 0.1, 15);
    for (let k = 0; k < 7; k++) a.step();
    const b = make();
    b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
    expect(b.stepCount).toBe(7);
    for (let k = 7; k < 15; k++) {
      expect(b.lr).toBe(a.lr);
      expect(b.momentum).toBe(a.momentum);
      a.step();
      b.step();
    }
    // 3 warmup steps + the OneCycleLR's 12: the 16th step is one too many.
    expect(() => b.step()).toThrow(/Tried to step 13 times/);
  });

  it("rejects bad options", () => {
    const inner = new CosineAnnealingLR({ baseLr: 1, tMax: 6 });
    expect(() => new LinearWarmup({ warmupSteps: 0, schedule: inner })).toThrow(/warmupSteps/);
    expect(() => new LinearWarmup({ warmupSteps: 2, startFactor: 2, schedule: inner })).toThrow(
      /startFactor in \[0, 1\], got 2/,
    );
  });
});
