import { describe, expect, it } from "vitest";
import golden from "./__fixtures__/one-cycle.json" with { type: "json" };
import { OneCycleLR, type OneCycleLROptions, ScheduleError } from "./index.js";

interface GoldenCase {
  name: string;
  options: OneCycleLROptions;
  totalSteps: number;
  lr: (number | null)[];
  momentum: (number | null)[] | null;
  pytorchErrors: Record<string, string>;
  overflowMessage: string;
}

const cases = golden.cases as GoldenCase[];

/** Relative error of `actual` against PyTorch's `expected` (absolute when expected is 0). */
function relErr(actual: number, expected: number): number {
  const diff = Math.abs(actual - expected);
  return expected === 0 ? diff : diff / Math.abs(expected);
}

describe("OneCycleLR against PyTorch 1.13 (golden fixtures)", () => {
  it("covers the configurations the issue asks for", () => {
    const names = cases.map((c) => c.name);
    expect(names.length).toBeGreaterThanOrEqual(15);
    expect(cases.some((c) => c.options.annealStrategy === "linear")).toBe(true);
    expect(cases.some((c) => c.options.threePhase)).toBe(true);
    for (const total of [1, 2, 7, 3910]) {
      expect(cases.some((c) => c.totalSteps === total)).toBe(true);
    }
    expect(cases.some((c) => c.options.pctStart === 0)).toBe(true);
    expect(cases.some((c) => c.options.pctStart === 1)).toBe(true);
  });

  for (const c of cases) {
    it(`${c.name}: lr and momentum equal PyTorch's to 1e-12 at every step 0..${c.totalSteps}`, () => {
      const s = new OneCycleLR(c.options);
      expect(s.totalSteps).toBe(c.totalSteps);
      let worst = 0;
      let checked = 0;
      for (let k = 0; k <= c.totalSteps; k++) {
        if (k > 0) s.step();
        const lr = c.lr[k];
        if (lr === null || lr === undefined) {
          // PyTorch divides by a zero-length phase here; we return the phase's end value (min lr).
          expect(c.pytorchErrors[String(k)]).toMatch(/ZeroDivisionError/);
          expect(s.lr).toBe(c.options.maxLr / 25 / 1e4);
          continue;
        }
        worst = Math.max(worst, relErr(s.lr, lr));
        const m = c.momentum?.[k];
        if (c.momentum === null) expect(s.momentum).toBeUndefined();
        else worst = Math.max(worst, relErr(s.momentum as number, m as number));
        checked += 1;
      }
      expect(checked).toBeGreaterThan(0);
      expect(worst).toBeLessThanOrEqual(1e-12);
    });
  }

  it("refuses step totalSteps + 1 with PyTorch's message, counting the caller's step() calls", () => {
    for (const c of cases) {
      const s = new OneCycleLR(c.options);
      for (let k = 0; k < c.totalSteps; k++) s.step();
      const lr = s.lr;
      // PyTorch says "Tried to step {total + 2} times" because it counts its constructor's step.
      expect(c.overflowMessage).toBe(
        `Tried to step ${c.totalSteps + 2} times. The specified number of total steps is ${c.totalSteps}`,
      );
      let error: unknown;
      try {
        s.step();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ScheduleError);
      expect((error as ScheduleError).code).toBe("too_many_steps");
      expect((error as ScheduleError).message).toContain(
        `Tried to step ${c.totalSteps + 1} times. The specified number of total steps is ${c.totalSteps}`,
      );
      expect((error as ScheduleError).message).toMatch(/epochs × stepsPerEpoch/);
      // A refused step leaves the schedule where it was.
      expect(s.stepCount).toBe(c.totalSteps);
      expect(s.lr).toBe(lr);
    }
  });
});

describe("OneCycleLR options", () => {
  it("derives totalSteps from epochs × stepsPerEpoch", () => {
    const s = new OneCycleLR({ maxLr: 0.4, epochs: 10, stepsPerEpoch: 391 });
    expect(s.totalSteps).toBe(3910);
    expect(s.options).toEqual({
      maxLr: 0.4,
      totalSteps: 3910,
      pctStart: 0.3,
      annealStrategy: "cos",
      cycleMomentum: true,
      baseMomentum: 0.85,
      maxMomentum: 0.95,
      divFactor: 25,
      finalDivFactor: 1e4,
      threePhase: false,
    });
  });

  const bad: [string, Partial<OneCycleLROptions>, RegExp][] = [
    ["no length", { maxLr: 0.1 }, /expected totalSteps, or epochs and stepsPerEpoch/],
    [
      "only epochs",
      { maxLr: 0.1, epochs: 3 },
      /stepsPerEpoch to be a positive integer, got undefined/,
    ],
    [
      "zero totalSteps",
      { maxLr: 0.1, totalSteps: 0 },
      /totalSteps to be a positive integer, got 0/,
    ],
    ["fractional totalSteps", { maxLr: 0.1, totalSteps: 2.5 }, /got 2.5/],
    [
      "negative epochs",
      { maxLr: 0.1, epochs: -1, stepsPerEpoch: 3 },
      /epochs to be a positive integer, got -1/,
    ],
    [
      "disagreeing lengths",
      { maxLr: 0.1, totalSteps: 10, epochs: 2, stepsPerEpoch: 4 },
      /disagrees/,
    ],
    [
      "pctStart > 1",
      { maxLr: 0.1, totalSteps: 10, pctStart: 1.5 },
      /pctStart in \[0, 1\], got 1.5/,
    ],
    [
      "pctStart < 0",
      { maxLr: 0.1, totalSteps: 10, pctStart: -0.1 },
      /pctStart in \[0, 1\], got -0.1/,
    ],
    [
      "unknown strategy",
      { maxLr: 0.1, totalSteps: 10, annealStrategy: "exp" as "cos" },
      /"cos" or "linear", got "exp"/,
    ],
    ["zero maxLr", { maxLr: 0, totalSteps: 10 }, /maxLr to be a finite number > 0, got 0/],
    ["NaN maxLr", { maxLr: Number.NaN, totalSteps: 10 }, /maxLr .* got NaN/],
    ["negative divFactor", { maxLr: 0.1, totalSteps: 10, divFactor: -2 }, /divFactor .* got -2/],
    [
      "zero finalDivFactor",
      { maxLr: 0.1, totalSteps: 10, finalDivFactor: 0 },
      /finalDivFactor .* got 0/,
    ],
    [
      "momentum > 1",
      { maxLr: 0.1, totalSteps: 10, maxMomentum: 1.2 },
      /maxMomentum in \[0, 1\], got 1.2/,
    ],
  ];
  for (const [name, options, message] of bad) {
    it(`rejects ${name} at construction`, () => {
      expect(() => new OneCycleLR(options as OneCycleLROptions)).toThrow(message);
      try {
        new OneCycleLR(options as OneCycleLROptions);
      } catch (e) {
        expect(e).toBeInstanceOf(ScheduleError);
        expect((e as ScheduleError).code).toBe("invalid_option");
      }
    });
  }

  it("gives maxLr for pctStart = 1 and a single step, where PyTorch divides by zero", () => {
    const s = new OneCycleLR({ maxLr: 0.1, totalSteps: 1, pctStart: 1 });
    expect(s.lr).toBe(0.1);
    expect(s.momentum).toBe(0.85);
  });
});

describe("OneCycleLR state", () => {
  it("resumes mid-schedule with identical values through JSON", () => {
    const options = { maxLr: 0.4, epochs: 3, stepsPerEpoch: 17, threePhase: true } as const;
    const straight = new OneCycleLR(options);
    const first = new OneCycleLR(options);
    for (let k = 0; k < 20; k++) {
      straight.step();
      first.step();
    }
    const saved = JSON.parse(JSON.stringify(first.stateDict()));
    const resumed = new OneCycleLR(options);
    resumed.loadStateDict(saved);
    expect(resumed.stepCount).toBe(20);
    for (let k = 20; k < 51; k++) {
      expect(resumed.lr).toBe(straight.lr);
      expect(resumed.momentum).toBe(straight.momentum);
      straight.step();
      resumed.step();
    }
    expect(() => resumed.step()).toThrow(/Tried to step 52 times/);
  });

  it("refuses a state saved with a different totalSteps, naming the option", () => {
    const saved = new OneCycleLR({ maxLr: 0.1, epochs: 10, stepsPerEpoch: 391 }).stateDict();
    const other = new OneCycleLR({ maxLr: 0.1, epochs: 10, stepsPerEpoch: 390 });
    expect(() => other.loadStateDict(saved)).toThrow(
      /saved with totalSteps=3910 but this schedule has totalSteps=3900/,
    );
    expect(() => other.loadStateDict({ schedule: "StepLR" })).toThrow(
      /expected a OneCycleLR state/,
    );
    expect(() => other.loadStateDict({ ...other.stateDict(), stepCount: -1 })).toThrow(/stepCount/);
    expect(other.stepCount).toBe(0);
  });
});
