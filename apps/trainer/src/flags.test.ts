import { describe, expect, it } from "vitest";
import { resolveConfig } from "./config.js";
import { HELP, parseFlags } from "./flags.js";

describe("parseFlags", () => {
  it("defaults to train with the cpu preset", () => {
    const p = parseFlags([]);
    expect(p.command).toBe("train");
    expect(p.preset).toBe("cpu");
    expect(resolveConfig(p.preset, p.patch)).toEqual(resolveConfig("cpu"));
  });

  it("maps flags onto config fields", () => {
    const p = parseFlags([
      "--preset",
      "smoke",
      "--epochs",
      "3",
      "--widths",
      "4,8,16",
      "--no-augment",
      "--cutout",
      "6",
      "--grad-clip",
      "0",
      "--ema",
      "0.99",
      "--no-shortcut",
      "--no-normalize",
      "--seed",
      "42",
      "--replicas",
      "2",
    ]);
    const c = resolveConfig(p.preset, p.patch);
    expect(c).toMatchObject({
      preset: "smoke",
      epochs: 3,
      widths: [4, 8, 16],
      gradClip: null,
      ema: 0.99,
      shortcut: "none",
      normalize: "none",
      seed: 42,
      replicas: 2,
      stepGraph: "auto",
      augment: { crop: false, flip: false, padding: 4, cutout: 6 },
    });
  });

  it("maps --step-graph onto stepGraph, an environment flag that --resume takes", () => {
    const p = parseFlags(["--preset", "cpu", "--step-graph"]);
    expect(resolveConfig(p.preset, p.patch).stepGraph).toBe(true);
    expect(p.recipeFlags).not.toContain("--step-graph");
    const off = parseFlags(["--preset", "cpu", "--no-step-graph"]);
    expect(resolveConfig(off.preset, off.patch).stepGraph).toBe(false);
  });

  it("maps the fast recipe's flags onto config fields", () => {
    const p = parseFlags([
      "--schedule",
      "one-cycle",
      "--momentum",
      "0.9",
      "--bias-lr-scale",
      "16",
      "--no-lookahead",
      "--no-whitening",
      "--whiten-bias-epochs",
      "1",
      "--tta",
      "1",
      "--padding",
      "4",
      "--padding-mode",
      "zero",
      "--flip",
      "random",
    ]);
    expect(resolveConfig(p.preset, p.patch)).toMatchObject({
      preset: "cpu",
      schedule: "one-cycle",
      momentum: 0.9,
      biasLrScale: 16,
      lookahead: false,
      whitening: false,
      whitenBiasEpochs: 1,
      tta: 1,
      augment: { padding: 4, paddingMode: "zero", flip: true, alternateFlip: false },
    });
    const none = resolveConfig("cpu", parseFlags(["--flip", "none"]).patch);
    expect(none.augment).toMatchObject({ flip: false, alternateFlip: false });
    expect(() => parseFlags(["--flip", "sometimes"])).toThrow(
      '--flip: expected random, alternating or none, got "sometimes"',
    );
    expect(() => resolveConfig("cpu", parseFlags(["--tta", "4"]).patch)).toThrow(
      "tta: expected 0, 1 or 2, got 4",
    );
  });

  it("recognises subcommands and keeps their positionals", () => {
    const p = parseFlags(["predict", "runs/x/export", "cat.png", "dog.jpg"]);
    expect(p.command).toBe("predict");
    expect(p.positionals).toEqual(["runs/x/export", "cat.png", "dog.jpg"]);
  });

  it("explains bad flags in one line", () => {
    expect(() => parseFlags(["--epochs", "ten"])).toThrow('--epochs: expected a number, got "ten"');
    expect(() => parseFlags(["--preset", "fast"])).toThrow(
      '--preset: expected one of seed, cpu, cpu-long, full, smoke, got "fast"',
    );
    expect(() => parseFlags(["--bogus"])).toThrow(/--bogus.*see --help/);
    expect(() => parseFlags(["frobnicate"])).toThrow('unknown command "frobnicate"');
  });

  it("documents every preset in --help", () => {
    for (const preset of ["seed", "cpu", "full", "smoke"]) expect(HELP).toContain(`  ${preset} `);
  });
});
