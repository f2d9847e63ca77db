import { describe, expect, it } from "vitest";
import { main } from "./cli.js";
import { resolveExperimentOptions } from "./options.js";

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
    },
  };
}

describe("cnnkit-experiment", () => {
  it("prints help listing every experiment", async () => {
    const t = io();
    expect(await main(["--help"], t.io)).toBe(0);
    for (const name of [
      "residuals",
      "augmentation",
      "pitfalls",
      "recipe",
      "features",
      "mixed-precision",
      "all",
      "--scale",
      "--smoke",
    ])
      expect(t.out.join("")).toContain(name);
  });

  it("refuses unknown experiments and bad flags in one line, before training anything", async () => {
    const cases: [string[], string][] = [
      [
        ["colour"],
        'expected one experiment (residuals, augmentation, pitfalls, recipe, features, mixed-precision, all), got "colour"',
      ],
      [["residuals", "--scale", "two"], '--scale: expected a whole number, got "two"'],
      [["residuals", "--model", "vgg"], "--model: expected one of fast-resnet, small-resnet"],
      [
        ["residuals", "--backend", "tpu"],
        '--backend: expected one of auto, tensorflow-gpu, tensorflow, wasm, cpu, got "tpu"',
      ],
      [["residuals", "--max-lr", "0"], '--max-lr: expected a number > 0, got "0"'],
      [["residuals", "--frobnicate"], "Unknown option '--frobnicate'"],
    ];
    for (const [argv, message] of cases) {
      const t = io();
      expect(await main(argv, t.io)).toBe(2);
      expect(t.err.join("")).toContain(message);
      expect(t.err.join("").split("\n").filter(Boolean)).toHaveLength(1);
    }
  });

  it("--smoke shrinks every experiment to seconds, and flags given still win", () => {
    const o = resolveExperimentOptions({ smoke: true, patch: { epochs: 2, widths: undefined } });
    expect(o.patch).toEqual({ trainSubset: 64, testSubset: 32, widths: [4, 8, 16], epochs: 2 });
    expect(resolveExperimentOptions({ patch: { epochs: 2 } }).patch).toEqual({ epochs: 2 });
  });
});
