import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodePNG, imageGrid, savePicture, VizError } from "./index.js";

const dir = await mkdtemp(join(tmpdir(), "cnnkit-viz-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

const picture = imageGrid({
  images: [{ data: new Uint8Array(4 * 4 * 3).fill(200), width: 4, height: 4 }],
  captions: ["ship"],
});

describe("savePicture", () => {
  it("writes SVG for .svg and PNG for .png, creating folders, leaving no temp files", async () => {
    const svgPath = join(dir, "a", "b", "grid.svg");
    const pngPath = join(dir, "a", "b", "grid.PNG");
    await savePicture(picture, svgPath);
    await savePicture(picture, pngPath);
    expect(await readFile(svgPath, "utf8")).toBe(picture.toSVG());
    const png = decodePNG(new Uint8Array(await readFile(pngPath)));
    expect([png.width, png.height]).toEqual([picture.width, picture.height]);
    expect((await readdir(join(dir, "a", "b"))).sort()).toEqual(["grid.PNG", "grid.svg"]);
  });

  it("renders at a higher pixel density when asked", async () => {
    const path = join(dir, "grid@2x.png");
    await savePicture(picture, path, { scale: 2 });
    const png = decodePNG(new Uint8Array(await readFile(path)));
    expect([png.width, png.height]).toEqual([picture.width * 2, picture.height * 2]);
  });

  it("overwrites an existing file in one step", async () => {
    const path = join(dir, "again.svg");
    await savePicture(
      imageGrid({ images: [{ data: new Uint8Array(3), width: 1, height: 1 }] }),
      path,
    );
    await savePicture(picture, path);
    expect(await readFile(path, "utf8")).toBe(picture.toSVG());
  });

  it("rejects unknown extensions, naming the path", async () => {
    const path = join(dir, "grid.jpg");
    await expect(savePicture(picture, path)).rejects.toThrow(VizError);
    await expect(savePicture(picture, path)).rejects.toThrow(
      /grid\.jpg: expected a file name ending in \.svg or \.png, got "\.jpg"/,
    );
  });
});

describe("savePicture into a folder that cannot be made", () => {
  it("fails at once naming it (no spin under /proc)", async () => {
    const { lineChart, savePicture } = await import("./index.js");
    const picture = lineChart({ series: [{ name: "lr", y: [1, 2, 3] }] });
    await expect(savePicture(picture, "/proc/cnnkit-x/chart.svg")).rejects.toMatchObject({
      code: "write_failed",
      message: expect.stringMatching(
        /^savePicture \/proc\/cnnkit-x\/chart\.svg: \/proc\/cnnkit-x: cannot create this folder/,
      ),
    });
  });
});
