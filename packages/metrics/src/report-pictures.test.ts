import { decodePNG } from "@cnnkit/viz";
import { describe, expect, it } from "vitest";
import { MetricsError, type MetricsResult } from "./index.js";
import { confusionMatrixPicture, perClassAccuracyPicture, reliabilityPicture } from "./pictures.js";
import { smallResult } from "./test-result.js";

// The three chart pictures; failure-gallery.test.ts covers the image grid.
describe("report pictures", () => {
  it("draws the confusion matrix with counts in the cells and class names on both axes", () => {
    const r = smallResult();
    const svg = confusionMatrixPicture(r).toSVG();
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("Confusion matrix (4 examples)");
    expect(svg).toContain("d|og");
    expect(svg).toContain("predicted class");
    // Cell text is the raw count whatever the colouring: zeros and ones appear.
    expect(svg).toMatch(/>1<\/text>/);
    expect(svg).toMatch(/>0<\/text>/);
    // Colouring by row share differs from colouring by count (cat's row has support 2).
    expect(confusionMatrixPicture(r, { normalize: false }).toSVG()).not.toBe(svg);
  });

  it("draws per-class accuracy bars with their percentages", () => {
    const pic = perClassAccuracyPicture(smallResult());
    const svg = pic.toSVG();
    expect(svg).toContain("Per-class accuracy (overall 25.0%)");
    expect(svg).toContain("50.0%");
    expect(svg).toContain("frog");
    const png = decodePNG(pic.toPNG());
    expect([png.width, png.height]).toEqual([pic.width, pic.height]);
  });

  it("draws the reliability diagram with the ECE in the title", () => {
    const r = smallResult();
    const svg = reliabilityPicture(r).toSVG();
    expect(svg).toContain(`Reliability (ECE ${(r.calibration.ece * 100).toFixed(2)}%)`);
    expect(svg).toContain("perfect calibration");
    expect(reliabilityPicture(r, { title: "Epoch 3" }).toSVG()).toContain("Epoch 3");
  });

  it("refuses something that is not a result", () => {
    const notAResult = { version: 2 } as unknown as MetricsResult;
    expect(() => confusionMatrixPicture(notAResult)).toThrow(MetricsError);
    expect(() => reliabilityPicture(notAResult)).toThrow(
      "reliabilityPicture: expected a MetricsResult (version 1, from ClassificationMetrics.result()), got an object with version 2",
    );
  });
});
