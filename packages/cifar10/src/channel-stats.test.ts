import { describe, expect, it } from "vitest";
import { channelStats } from "./index.js";

describe("channelStats", () => {
  it("computes per-channel mean and population std over [0, 1] pixels", () => {
    // Two images: red 0 then 255, green constant 51, blue 0/255 checkerboard.
    const images = new Uint8Array(2 * 3072);
    for (let i = 0; i < 2; i++)
      for (let p = 0; p < 1024; p++) {
        const o = i * 3072 + p * 3;
        images[o] = i === 0 ? 0 : 255;
        images[o + 1] = 51;
        images[o + 2] = p % 2 === 0 ? 255 : 0;
      }
    const { mean, std } = channelStats({ images });
    expect(mean[0]).toBeCloseTo(0.5, 12);
    expect(mean[1]).toBeCloseTo(0.2, 12);
    expect(mean[2]).toBeCloseTo(0.5, 12);
    expect(std[0]).toBeCloseTo(0.5, 12);
    expect(std[1]).toBeCloseTo(0, 12);
    expect(std[2]).toBeCloseTo(0.5, 12);
  });

  it("rejects an empty or ragged image buffer", () => {
    expect(() => channelStats({ images: new Uint8Array(0) })).toThrow(/got 0/);
    expect(() => channelStats({ images: new Uint8Array(3073) })).toThrow(
      /expected a non-empty multiple of 3072 bytes \(N×32×32×3\), got 3073/,
    );
  });
});
