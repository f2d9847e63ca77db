import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OneCycleLR } from "@cnnkit/schedulers";
import { beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test-helpers.js";
import { readScalars } from "./arm.js";
import { runExperiment } from "./run-experiment.js";
import { expectOutputs, tinyExperiment } from "./test-support.js";

beforeAll(useCpu);

describe("pitfalls experiment", () => {
  it("shows wrong normalisation and a OneCycleLR that runs out before the loop", async () => {
    const out = await mkdtemp(join(tmpdir(), "cnnkit-exp-pit-"));
    const [result] = await runExperiment(
      "pitfalls",
      tinyExperiment(out, { patch: { widths: [2, 4, 8], batchSize: 8, epochs: 2, maxLr: 1e-2 } }),
    );
    await expectOutputs(result!, ["correct", "no-normalization", "onecycle-mismatch"]);
    const n = result!.numbers;
    // 16 images at batch 8: the loop runs 2 × 2 steps; the hand-computed stepsPerEpoch (batch 16) gives 2 × 1.
    expect(n["mismatch.loopSteps"]).toBe(4);
    expect(n["mismatch.scheduleSteps"]).toBe(2);
    expect(n["mismatch.exhaustedAt"]).toBe(2);
    // After its last step the schedule holds the value it ended on, and so does the optimizer.
    const ended = new OneCycleLR({ maxLr: 1e-2, totalSteps: 2, pctStart: 0.3 });
    ended.step();
    ended.step();
    const floor = ended.lr;
    expect(n["mismatch.floorLr"]).toBeCloseTo(floor, 12);
    // TensorBoard stores float32: compare relatively.
    const lr = await readScalars(
      join(result!.dir, "onecycle-mismatch", "tensorboard"),
      "pitfall/effective_lr",
    );
    expect(lr.steps).toEqual([1, 2, 3, 4]);
    for (const v of lr.values.slice(2)) expect(Math.abs(v / floor - 1)).toBeLessThan(1e-6);
    // The trainer's own schedule still ran its 4 steps: the run completed, its guard untouched.
    const metrics = JSON.parse(
      await readFile(join(result!.dir, "onecycle-mismatch", "metrics.json"), "utf8"),
    );
    expect(metrics.status).toBe("completed");
    const noNorm = JSON.parse(
      await readFile(join(result!.dir, "no-normalization", "config.json"), "utf8"),
    );
    expect(noNorm.normalize).toBe("none");
    for (const key of ["inference.rightStatsAccuracy", "inference.wrongStatsAccuracy"]) {
      expect(n[key]).toBeGreaterThanOrEqual(0);
      expect(n[key]).toBeLessThanOrEqual(1);
    }
    // The correct model evaluated with its own statistics is its recorded best.
    const correct = JSON.parse(
      await readFile(join(result!.dir, "correct", "metrics.json"), "utf8"),
    );
    expect(n["inference.rightStatsAccuracy"]).toBe(correct.final.bestTestAccuracy);
    const names = result!.pictures.map((p) => p.split("/").at(-1));
    expect(names).toEqual(["normalization.png", "lr.png", "loss.png"]);
    // The lowest lr the mis-sized schedule reached (its floor, one step before its end) and the
    // value it holds after (one step past its cosine's end, which turns back up).
    const atFloor = new OneCycleLR({ maxLr: 1e-2, totalSteps: 2, pctStart: 0.3 });
    atFloor.step();
    expect(n["mismatch.lowestLr"]).toBeCloseTo(Math.min(atFloor.lr, floor), 12);
    const markdown = await readFile(result!.summary, "utf8");
    expect(markdown).toContain("The schedule was built for 2 steps");
    expect(markdown).toContain("At step 3 its `step()` threw");
    // A loss change reads "fell by x" or "rose by x", never "fell by -x".
    expect(markdown).toMatch(/training loss (fell|rose) by \d/);
    expect(markdown).not.toMatch(/(fell|rose) by -/);
  });
});
