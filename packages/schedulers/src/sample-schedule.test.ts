import { describe, expect, it } from "vitest";
import {
  type LRSchedule,
  OneCycleLR,
  ScheduleError,
  StepLR,
  sampleSchedule,
  scheduleTable,
} from "./index.js";

describe("sampleSchedule", () => {
  it("samples every training step from a fresh copy without stepping the caller's schedule", () => {
    const s = new OneCycleLR({ maxLr: 0.1, totalSteps: 10 });
    s.step();
    s.step();
    const before = s.stateDict();
    const samples = sampleSchedule(s);
    expect(s.stateDict()).toEqual(before);
    expect(samples).toHaveLength(10);
    const reference = new OneCycleLR({ maxLr: 0.1, totalSteps: 10 });
    samples.forEach((sample, k) => {
      expect(sample).toEqual({ step: k, lr: reference.lr, momentum: reference.momentum });
      if (k < 9) reference.step();
    });
  });

  it("takes a factory, and needs steps when the schedule has no totalSteps", () => {
    const samples = sampleSchedule(() => new StepLR({ baseLr: 1, stepSize: 2, gamma: 0.5 }), 5);
    expect(samples.map((x) => x.lr)).toEqual([1, 1, 0.5, 0.5, 0.25]);
    expect(samples[0]).not.toHaveProperty("momentum");
    expect(() => sampleSchedule(new StepLR({ baseLr: 1, stepSize: 2 }))).toThrow(/pass steps/);
    const foreign: LRSchedule = {
      lr: 1,
      step() {},
      stateDict: () => ({}),
      loadStateDict() {},
    };
    expect(() => sampleSchedule(foreign, 3)).toThrow(ScheduleError);
  });
});

describe("scheduleTable", () => {
  it("renders evenly spaced rows, first and last included, as Markdown", () => {
    const table = scheduleTable(new OneCycleLR({ maxLr: 0.1, totalSteps: 100 }), { rows: 5 });
    expect(table).toBe(
      [
        "| step | lr | momentum |",
        "|---:|---:|---:|",
        "| 0 | 0.004 | 0.95 |",
        "| 25 | 0.09556 | 0.8546 |",
        "| 50 | 0.07939 | 0.8706 |",
        "| 74 | 0.02831 | 0.9217 |",
        "| 99 | 4e-7 | 0.95 |",
        "",
      ].join("\n"),
    );
  });

  it("drops the momentum column when the schedule has none and lists short runs whole", () => {
    const samples = sampleSchedule(new StepLR({ baseLr: 0.1, stepSize: 1, gamma: 0.5 }), 3);
    expect(scheduleTable(samples)).toBe(
      "| step | lr |\n|---:|---:|\n| 0 | 0.1 |\n| 1 | 0.05 |\n| 2 | 0.025 |\n",
    );
    expect(() => scheduleTable(samples, { rows: 1 })).toThrow(/rows to be an integer >= 2, got 1/);
  });
});
