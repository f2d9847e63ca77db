import { runWithoutPackages } from "@cnnkit/vitest-config/without-packages";
import { describe, expect, it } from "vitest";
import { isMissingPackage } from "./load-viz.js";

// @cnnkit/viz (and its native rasteriser) is an optional peer: only `@cnnkit/metrics/pictures`
// may load it. Each case runs in a fresh Node where viz and resvg are not installed.
const hidden = ["@cnnkit/viz", "@resvg/resvg-js"];
const cwd = new URL("..", import.meta.url);

describe("without @cnnkit/viz installed", () => {
  it("the main entry computes without ever trying to load viz", () => {
    const run = runWithoutPackages(
      hidden,
      `import { ClassificationMetrics, toMarkdown } from "@cnnkit/metrics";
       const metrics = new ClassificationMetrics({ classNames: ["cat", "dog"] });
       metrics.update(new Float32Array([2, 0, 0, 2]), [0, 0]);
       console.log(JSON.stringify({ accuracy: metrics.result().accuracy,
         markdown: toMarkdown(metrics.result()).includes("cat") }));`,
      { cwd },
    );
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({ accuracy: 0.5, markdown: true });
    expect(run.attempted).toEqual([]);
  });

  it("a picture function says, in one line, what to install", () => {
    const run = runWithoutPackages(
      hidden,
      `import { ClassificationMetrics } from "@cnnkit/metrics";
       import { confusionMatrixPicture } from "@cnnkit/metrics/pictures";
       const metrics = new ClassificationMetrics({ numClasses: 2 });
       metrics.update(new Float32Array([2, 0, 0, 2]), [0, 1]);
       try {
         confusionMatrixPicture(metrics.result());
         console.log("drawn");
       } catch (e) {
         console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, cause: e.cause?.code }));
       }`,
      { cwd },
    );
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({
      name: "MetricsError",
      code: "missing_viz",
      message:
        "confusionMatrixPicture: pictures need @cnnkit/viz, an optional peer of @cnnkit/metrics that is not installed; add it with `pnpm add @cnnkit/viz`",
      cause: "ERR_MODULE_NOT_FOUND",
    });
    expect(run.attempted).toEqual(["@cnnkit/viz from load-viz.ts"]);
  });
});

describe("isMissingPackage", () => {
  it("tells viz not installed from viz installed without one of its own dependencies", () => {
    const notFound = (message: string) =>
      Object.assign(new Error(message), { code: "ERR_MODULE_NOT_FOUND" });
    expect(
      isMissingPackage(
        notFound(
          "Cannot find package '@cnnkit/viz' imported from /app/node_modules/@cnnkit/metrics/dist/pictures.js",
        ),
        "@cnnkit/viz",
      ),
    ).toBe(true);
    expect(
      isMissingPackage(
        notFound(
          "Cannot find package 'fast-png' imported from /app/node_modules/@cnnkit/viz/dist/index.js",
        ),
        "@cnnkit/viz",
      ),
    ).toBe(false);
    expect(isMissingPackage(new Error("Cannot find package '@cnnkit/viz'"), "@cnnkit/viz")).toBe(
      false,
    );
    expect(isMissingPackage(undefined, "@cnnkit/viz")).toBe(false);
  });
});
