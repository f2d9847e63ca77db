import { describe, expect, it } from "vitest";
import { textColorOn } from "./color.js";
import { CATEGORICAL_COLORS, colorForValue, VizError } from "./index.js";

describe("colorForValue", () => {
  it("maps min and max to the ends of the scale and clamps beyond them", () => {
    expect(colorForValue(0)).toBe("#440154"); // viridis dark purple
    expect(colorForValue(1)).toBe("#fde725"); // viridis yellow
    expect(colorForValue(-5)).toBe(colorForValue(0));
    expect(colorForValue(7)).toBe(colorForValue(1));
    expect(colorForValue(10, { min: 0, max: 10, scheme: "blues" })).toBe("#08306b");
    expect(colorForValue(0, { min: 0, max: 10, scheme: "blues" })).toBe("#f7fbff");
  });

  it("interpolates between stops", () => {
    // Halfway in redBlue is the neutral middle stop.
    expect(colorForValue(0, { min: -1, max: 1, scheme: "redBlue" })).toBe("#f7f7f7");
    const mid = colorForValue(1 / 16, { scheme: "jet" }); // halfway between the first two stops
    expect(mid).toBe("#0000c7");
  });

  it("gives the middle colour when min equals max, instead of dividing by zero", () => {
    expect(colorForValue(3, { min: 3, max: 3 })).toBe(colorForValue(0.5));
  });

  it("rejects unknown schemes, listing the known ones", () => {
    // @ts-expect-error: testing the runtime check
    expect(() => colorForValue(0, { scheme: "rainbow" })).toThrow(VizError);
    // @ts-expect-error: testing the runtime check
    expect(() => colorForValue(0, { scheme: "rainbow" })).toThrow(/viridis, blues, redBlue, jet/);
  });
});

describe("textColorOn / CATEGORICAL_COLORS", () => {
  it("chooses white on dark and black on light backgrounds", () => {
    expect(textColorOn([8, 48, 107])).toBe("#ffffff");
    expect(textColorOn([247, 251, 255])).toBe("#000000");
  });

  it("has ten distinct colours", () => {
    expect(new Set(CATEGORICAL_COLORS).size).toBe(10);
  });
});
