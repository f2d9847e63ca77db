import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ADAMW_UPDATE_KERNEL, L2_NORMS_KERNEL, SGD_UPDATE_KERNEL } from "./index.js";
import { ADAMW_UPDATE, L2_NORMS, SGD_UPDATE } from "./kernel-names.js";

describe("@cnnkit/optim/kernel-names", () => {
  it("loads nothing at run time, so a backend can import it without the optimizers", () => {
    const source = readFileSync(new URL("./kernel-names.ts", import.meta.url), "utf8");
    const imports = source.match(/^import\b.*$/gm) ?? [];
    expect(imports.filter((line) => !line.startsWith("import type "))).toEqual([]);
  });

  it("names the kernels the optimizers call, under their earlier names too", () => {
    expect([ADAMW_UPDATE, SGD_UPDATE, L2_NORMS]).toEqual([
      "CnnkitAdamWUpdate",
      "CnnkitSGDUpdate",
      "CnnkitL2Norms",
    ]);
    expect([ADAMW_UPDATE_KERNEL, SGD_UPDATE_KERNEL, L2_NORMS_KERNEL]).toEqual([
      ADAMW_UPDATE,
      SGD_UPDATE,
      L2_NORMS,
    ]);
  });
});
