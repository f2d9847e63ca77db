import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BATCH_NORM_TRAINING_KERNELS } from "./index.js";
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from "./kernel-names.js";

describe("@cnnkit/resnet/kernel-names", () => {
  it("loads nothing at run time (no tfjs-layers), so a backend can import it cheaply", () => {
    const source = readFileSync(new URL("./kernel-names.ts", import.meta.url), "utf8");
    const imports = source.match(/^import\b.*$/gm) ?? [];
    expect(imports.filter((line) => !line.startsWith("import type "))).toEqual([]);
  });

  it("names the kernels batchNormTraining calls, as BATCH_NORM_TRAINING_KERNELS does", () => {
    expect([BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD]).toEqual([
      "CnnkitBatchNormTraining",
      "CnnkitBatchNormTrainingGrad",
    ]);
    expect(BATCH_NORM_TRAINING_KERNELS).toEqual({
      forward: BATCH_NORM_TRAINING,
      gradient: BATCH_NORM_TRAINING_GRAD,
    });
  });
});
