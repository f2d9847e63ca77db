import { decodePNG } from "@cnnkit/viz";
import { describe, expect, it } from "vitest";
import {
  ExplainError,
  GradientNormHistory,
  gradientNormChart,
  gradientNormProfile,
} from "./index.js";

function history(): GradientNormHistory {
  const h = new GradientNormHistory();
  for (let step = 0; step < 60; step++) {
    // A plain network's picture: the stem's norm decays by decades, the logits' stays put.
    h.record(step * 10, {
      stem: 10 ** (-step / 20),
      stage1_block1: 10 ** (-step / 40),
      logits: 1,
    });
  }
  return h;
}

describe("GradientNormHistory", () => {
  it("keeps groups in first-seen order and fills gaps with NaN", () => {
    const h = new GradientNormHistory();
    h.record(1, { stem: 2, logits: 1 });
    h.record(2, { stem: 3, stage1_block1: 5, logits: 1.5 });
    h.record(5, { logits: 2 });
    expect(h.steps).toEqual([1, 2, 5]);
    expect(h.groups).toEqual(["stem", "logits", "stage1_block1"]);
    expect(h.norms("stem")).toEqual([2, 3, Number.NaN]);
    expect(h.norms("stage1_block1")).toEqual([Number.NaN, 5, Number.NaN]);
    const json = JSON.parse(JSON.stringify(h));
    expect(json).toEqual({
      steps: [1, 2, 5],
      norms: { stem: [2, 3, null], logits: [1, 1.5, 2], stage1_block1: [null, 5, null] },
    });
    const back = new GradientNormHistory();
    back.record(0, { other: 1 });
    back.loadStateDict(json);
    expect(back.groups).toEqual(h.groups);
    expect(back.norms("stage1_block1")).toEqual(h.norms("stage1_block1"));
    expect(back.steps).toEqual(h.steps);
  });

  it("rejects steps out of order, unknown groups and broken state", () => {
    const h = new GradientNormHistory();
    h.record(3, { stem: 1 });
    expect(() => h.record(3, { stem: 1 })).toThrow(
      "GradientNormHistory.record step: expected a finite number greater than the last step (3), got 3",
    );
    expect(() => h.norms("stage9_block1")).toThrow(ExplainError);
    expect(() => h.norms("stage9_block1")).toThrow('expected one of "stem", got "stage9_block1"');
    expect(() => h.loadStateDict({ steps: [1, 2], norms: { stem: [1] } })).toThrow(
      "2 steps and series of lengths 1",
    );
    expect(() => h.loadStateDict({ steps: [2, 1], norms: {} })).toThrow(ExplainError);
    // A rejected state changes nothing.
    expect(h.steps).toEqual([3]);
    expect(h.groups).toEqual(["stem"]);
  });
});

describe("gradientNormChart and gradientNormProfile", () => {
  it("draws one curve per block, coloured by depth, on a log axis", () => {
    const picture = gradientNormChart(history());
    const svg = picture.toSVG();
    for (const g of ["stem", "stage1_block1", "logits"])
      expect(svg).toContain(`data-series="${g}"`);
    // viridis ends: the stem dark purple, the logits yellow.
    expect(svg).toMatch(/stroke="#440154"[^>]*data-series="stem"/);
    expect(svg).toMatch(/stroke="#fde725"[^>]*data-series="logits"/);
    expect(svg).toContain("Gradient L2 norm per block");
    const png = decodePNG(picture.toPNG());
    expect([png.width, png.height]).toEqual([720, 400]);
    expect(gradientNormChart(history(), { groups: ["logits"] }).toSVG()).not.toContain(
      'data-series="stem"',
    );
    expect(() => gradientNormChart(new GradientNormHistory())).toThrow("an empty one");
  });

  it("grows tall enough for a legend of 29 blocks", () => {
    const h = new GradientNormHistory();
    const record = Object.fromEntries(Array.from({ length: 29 }, (_, i) => [`g${i}`, i + 1]));
    h.record(0, record);
    h.record(1, record);
    expect(gradientNormChart(h).height).toBe(80 + 18 * 29);
  });

  it("profiles the norm over depth at the first, middle and last steps", () => {
    const svg = gradientNormProfile(history()).toSVG();
    for (const s of ["step 0", "step 290", "step 590"]) expect(svg).toContain(`data-series="${s}"`);
    expect(svg).toContain("Gradient L2 norm by depth (0 = stem, 2 = logits)");
    expect(() => gradientNormProfile(history(), { steps: [5] })).toThrow(
      "expected recorded steps (60 from 0 to 590), got 5",
    );
  });
});
