import { afterEach, describe, expect, it } from "vitest";
import { lineChart, renderPNG, savePicture } from "./index.js";

// A browser has no process.getBuiltinModule; hiding it here is how this file plays one.
const getBuiltinModule = process.getBuiltinModule;
function withoutNode(): void {
  (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
}
afterEach(() => {
  process.getBuiltinModule = getBuiltinModule;
});

describe("outside Node", () => {
  const picture = lineChart({ series: [{ name: "loss", y: [3, 2, 1] }], width: 200, height: 120 });

  it("toSVG still works; toPNG and savePicture say what to use in a browser", async () => {
    withoutNode();
    expect(picture.toSVG()).toMatch(/^<svg [^>]*width="200" height="120"/);
    expect(() => picture.toPNG()).toThrow(
      expect.objectContaining({
        code: "node_only",
        message: expect.stringMatching(/^toPNG: expected Node\.js .*renderPNG\(picture\)/),
      }),
    );
    await expect(savePicture(picture, "x.svg")).rejects.toMatchObject({
      code: "node_only",
      message: expect.stringMatching(/^savePicture: .*as a download/),
    });
  });

  it("renderPNG needs a page to draw on when Node is absent", async () => {
    withoutNode();
    await expect(renderPNG(picture)).rejects.toMatchObject({ code: "renderer_unavailable" });
    await expect(renderPNG(picture, { scale: 0 })).rejects.toMatchObject({
      code: "invalid_option",
      message: expect.stringMatching(/^renderPNG options\.scale/),
    });
  });

  it("renderPNG in Node is toPNG", async () => {
    expect(Array.from(await renderPNG(picture, { scale: 2 }))).toEqual(
      Array.from(picture.toPNG({ scale: 2 })),
    );
  });
});
