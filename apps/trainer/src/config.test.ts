import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PRESETS, readConfigFile, resolveConfig } from "./config.js";
import { TrainerError } from "./errors.js";

describe("resolveConfig", () => {
  it("starts from the preset and applies patches in order", () => {
    const c = resolveConfig("seed", { epochs: 3, augment: { cutout: 8 } }, { epochs: 5 });
    expect(c.epochs).toBe(5);
    expect(c.batchSize).toBe(128);
    expect(c.maxLr).toBe(3e-4);
    expect(c.augment).toEqual({
      crop: true,
      padding: 4,
      paddingMode: "zero",
      flip: true,
      alternateFlip: false,
      cutout: 8,
    });
    // The preset object itself is never mutated.
    expect(PRESETS.seed.augment.cutout).toBe(0);
    expect(PRESETS.seed.epochs).toBe(10);
  });

  it("ignores undefined fields of a patch (flags that were not given)", () => {
    const c = resolveConfig("smoke", { epochs: undefined, seed: 7 });
    expect(c.epochs).toBe(PRESETS.smoke.epochs);
    expect(c.seed).toBe(7);
  });

  it("gives a new model its own widths unless widths are given too", () => {
    expect(resolveConfig("seed", { model: "resnet20" }).widths).toEqual([16, 32, 64]);
    expect(resolveConfig("seed", { model: "resnet18" }).widths).toEqual([64, 128, 256, 512]);
    expect(resolveConfig("seed", { model: "resnet20", widths: [8, 16, 32] }).widths).toEqual([
      8, 16, 32,
    ]);
  });

  it("keeps seed the seed's recipe and gives the fast presets the fast recipe", () => {
    const seed = PRESETS.seed;
    expect([seed.model, seed.widths, seed.epochs, seed.batchSize, seed.optimizer]).toEqual([
      "small-resnet",
      [64, 128, 256],
      10,
      128,
      "adamw",
    ]);
    expect([seed.maxLr, seed.weightDecay, seed.gradClip, seed.schedule, seed.tta]).toEqual([
      3e-4,
      1e-4,
      1,
      "one-cycle",
      0,
    ]);
    for (const name of ["cpu", "cpu-long", "full"] as const) {
      const c = PRESETS[name];
      expect(c.preset).toBe(name);
      expect([c.model, c.optimizer, c.schedule, c.lookahead, c.whitening]).toEqual([
        "fast-resnet",
        "decoupled-sgd",
        "triangle",
        true,
        true,
      ]);
      expect(c.augment).toMatchObject({ padding: 2, paddingMode: "reflect", alternateFlip: true });
      expect(() => resolveConfig(name)).not.toThrow();
    }
  });

  it("refuses what a run could not honour, in one line", () => {
    const bad: Array<[object, RegExp]> = [
      [{ whitening: true }, /whitening: expected false for small-resnet/],
      [{ tta: 3 }, /tta: expected 0, 1 or 2, got 3/],
      [{ schedule: "cosine" }, /schedule: expected "one-cycle" or "triangle"/],
      [{ biasLrScale: 64 }, /biasLrScale: expected 1 unless optimizer is "decoupled-sgd"/],
      [{ augment: { flip: "no" } }, /augment.flip: expected true or false, got "no"/],
      [{ augment: { paddingMode: "edge" } }, /augment.paddingMode: expected "zero" or "reflect"/],
      [{ stepGraph: "yes" }, /stepGraph: expected true or false, got "yes"/],
      [
        { stepGraph: true, replicas: 2 },
        /replicas: expected 1 \(or "auto": 1 then\) with stepGraph true/,
      ],
      [
        { stepGraph: true, precision: "fp16-emulated" },
        /precision: expected "fp32" with stepGraph true/,
      ],
    ];
    for (const [patch, message] of bad) expect(() => resolveConfig("seed", patch)).toThrow(message);
    expect(() => resolveConfig("cpu", { replicas: 2 })).toThrow(
      /replicas: expected 1 for fast-resnet while whitenBiasEpochs \(3\) freezes/,
    );
    expect(() => resolveConfig("cpu", { replicas: 2, whitenBiasEpochs: 0 })).not.toThrow();
    // "auto" (the default) gives way to replicas and emulated float16 instead.
    expect(() => resolveConfig("seed", { replicas: 2, stepGraph: "auto" })).not.toThrow();
    expect(resolveConfig("cpu").stepGraph).toBe("auto");
  });

  it("names the option at fault with expected and received values", () => {
    expect(() => resolveConfig("seed", { epochs: 0 })).toThrow(
      "epochs: expected a positive integer, got 0",
    );
    expect(() => resolveConfig("seed", { maxLr: -1 })).toThrow("maxLr: expected a number > 0");
    expect(() => resolveConfig("seed", { widths: [8, 16] })).toThrow(
      "widths: expected 3 stage widths for small-resnet, got [8,16]",
    );
    expect(() => resolveConfig("seed", { labelSmoothing: 1 })).toThrow(TrainerError);
    expect(() => resolveConfig("seed", { replicas: 0 })).toThrow(
      "replicas: expected a positive integer, got 0",
    );
    expect(() => resolveConfig("smoke", { replicas: 33 })).toThrow(
      "replicas: expected at most batchSize (32): each replica needs rows of the batch, got 33",
    );
  });
});

describe("readConfigFile", () => {
  it("reads JSON and YAML and refuses unknown keys", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cnnkit-config-"));
    await writeFile(join(dir, "a.json"), JSON.stringify({ epochs: 2, augment: { flip: false } }));
    await writeFile(join(dir, "b.yaml"), "epochs: 4\nmaxLr: 0.01\n");
    await writeFile(join(dir, "c.yml"), "epoch: 4\n");
    expect(await readConfigFile(join(dir, "a.json"))).toEqual({
      epochs: 2,
      augment: { flip: false },
    });
    expect(await readConfigFile(join(dir, "b.yaml"))).toEqual({ epochs: 4, maxLr: 0.01 });
    await expect(readConfigFile(join(dir, "c.yml"))).rejects.toThrow('unknown option "epoch"');
    await expect(readConfigFile(join(dir, "missing.json"))).rejects.toThrow("cannot be read");
    // Nested keys too: a misspelt augmentation must not be silently ignored.
    await writeFile(join(dir, "d.yaml"), "augment:\n  rotate: 15\n");
    await expect(readConfigFile(join(dir, "d.yaml"))).rejects.toThrow(
      'unknown option "augment.rotate"',
    );
  });
});
