import { runWithoutPackages } from "@cnnkit/vitest-config/without-packages";
import { describe, expect, it } from "vitest";
import { isMissingPackage } from "./load-viz.js";

// @cnnkit/viz (and its native rasteriser) is an optional peer: only `@cnnkit/cifar10/pictures`
// may load it. Each case runs in a fresh Node where viz and resvg are not installed.
const hidden = ["@cnnkit/viz", "@resvg/resvg-js"];
const cwd = new URL("..", import.meta.url);

describe("without @cnnkit/viz installed", () => {
  it("the main entry works without ever trying to load viz", () => {
    const run = runWithoutPackages(
      hidden,
      `import { CIFAR10_CLASS_NAMES, denormalize, Rng } from "@cnnkit/cifar10";
       const { bytes } = denormalize(Float32Array.of(0, 0.5, 1), false);
       console.log(JSON.stringify({ bytes: [...bytes], first: CIFAR10_CLASS_NAMES[0],
         draw: new Rng(1).int(10) < 10 }));`,
      { cwd },
    );
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({ bytes: [0, 128, 255], first: "airplane", draw: true });
    expect(run.attempted).toEqual([]);
  });

  it("batchGrid and saveBatchGrid say, in one line, what to install", () => {
    const run = runWithoutPackages(
      hidden,
      `import { batchGrid, saveBatchGrid } from "@cnnkit/cifar10/pictures";
       const batch = { x: { rank: 4, shape: [1, 32, 32, 3] }, labels: [0] };
       const seen = [];
       for (const draw of [() => batchGrid(batch), () => saveBatchGrid(batch, "batch.png")]) {
         await draw().then(
           () => seen.push("drawn"),
           (e) => seen.push({ name: e.name, code: e.code, message: e.message, cause: e.cause?.code }),
         );
       }
       console.log(JSON.stringify(seen));`,
      { cwd },
    );
    expect(run.stderr).toBe("");
    const line = (caller: string) => ({
      name: "Cifar10Error",
      code: "missing_viz",
      message: `${caller}: pictures need @cnnkit/viz, an optional peer of @cnnkit/cifar10 that is not installed; add it with \`pnpm add @cnnkit/viz\``,
      cause: "ERR_MODULE_NOT_FOUND",
    });
    expect(JSON.parse(run.stdout)).toEqual([line("batchGrid"), line("saveBatchGrid")]);
    expect(run.attempted).toEqual(["@cnnkit/viz from load-viz.ts"]);
  });
});

describe("isMissingPackage", () => {
  it("tells viz not installed from viz installed without one of its own dependencies", () => {
    const notFound = (message: string) =>
      Object.assign(new Error(message), { code: "ERR_MODULE_NOT_FOUND" });
    const viz = "@cnnkit/viz";
    expect(
      isMissingPackage(
        notFound(`Cannot find package '${viz}' imported from /app/pictures.js`),
        viz,
      ),
    ).toBe(true);
    expect(
      isMissingPackage(
        notFound("Cannot find package 'fast-png' imported from /app/node_modules/@cnnkit/viz/x.js"),
        viz,
      ),
    ).toBe(false);
    expect(isMissingPackage(new Error(`Cannot find package '${viz}'`), viz)).toBe(false);
    expect(isMissingPackage(undefined, viz)).toBe(false);
  });
});
