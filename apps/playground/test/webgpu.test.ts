// The playground trained on WebGPU in headless Chromium: `?backend=webgpu` takes WebGPU even on
// a software adapter (SwiftShader, Chromium's CPU Vulkan driver: these machines have no GPU),
// then the smoke recipe trains, is measured and explained there. Every read the page makes
// of a GPU tensor must be asynchronous: a synchronous one breaks SwiftShader's device. Runs on
// CI, or with CNNKIT_WEBGPU set; says "WebGPU checks NOT RUN: <why>" where no adapter appears.
import { CHROMIUM, chromiumFound } from "@cnnkit/browser-test/harness";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PRESETS } from "../src/presets.js";
import { haveData, type Site, startSite, waitForText } from "./site.js";

const WEBGPU_FLAGS = [
  "--enable-unsafe-webgpu",
  "--enable-unsafe-swiftshader",
  "--use-webgpu-adapter=swiftshader",
];
const wanted = Boolean(process.env.CI || process.env.CNNKIT_WEBGPU);
const found = wanted && chromiumFound("playground WebGPU test");
// The smoke recipe, smaller still: SwiftShader runs WebGPU on the CPU, slowly.
const smoke = { ...PRESETS.smoke, trainImages: 64, testImages: 64 };
const smokeSteps = smoke.epochs * Math.ceil(smoke.trainImages / smoke.batchSize);

if (!wanted) {
  it.skip("the playground on WebGPU: on CI, or with CNNKIT_WEBGPU=1", () => {});
}

describe.runIf(found && haveData)(
  "the playground on WebGPU (SwiftShader)",
  { timeout: 600_000 },
  () => {
    let browser: Browser;
    let site: Site;
    let page: Page;
    let onWebGPU = false;
    const pageErrors: string[] = [];

    beforeAll(async () => {
      site = await startSite();
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", ...WEBGPU_FLAGS],
      });
      page = await browser.newPage();
      page.on("pageerror", (error) => pageErrors.push(error.message));
      page.on("console", (message) => {
        if (message.type() === "error") pageErrors.push(message.text());
      });
      await page.goto(`${site.pageUrl}?backend=webgpu`);
      // The worker reports the backend it took, or why it could not take one.
      await page.waitForSelector("#backend[data-backend], #backend.error", { timeout: 120_000 });
      onWebGPU = (await page.getAttribute("#backend", "data-backend")) === "webgpu";
      if (!onWebGPU) {
        console.log(
          `WebGPU checks NOT RUN: the page says "${await page.textContent("#backend")}" ${pageErrors.join("; ")}`,
        );
      }
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await site?.close();
    });

    it("takes WebGPU on the software adapter because the URL asked, and says so", async (context) => {
      if (!onWebGPU) return context.skip();
      expect(await page.textContent("#backend")).toMatch(
        /^Training on WebGPU: .*WebGPU on software adapter google swiftshader.*\(The page's URL asked for webgpu\.\)$/,
      );
    });

    it("trains the smoke recipe there, measures it and explains a test image", async (context) => {
      if (!onWebGPU) return context.skip();
      const url = page.getByLabel("CIFAR-10 binary archive URL");
      await url.fill(site.dataUrl);
      await url.press("Enter");
      await waitForText(page, "#load-status", /^Loaded 50,000 training/);
      await page.getByRole("radio", { name: /^Smoke:/ }).check();
      await page.fill("#train-images", String(smoke.trainImages));
      await page.fill("#test-images", String(smoke.testImages));
      await page.getByRole("button", { name: "Train" }).click();
      await page.waitForSelector("#results:not([hidden])", { timeout: 540_000 });
      expect(await page.textContent("#fig-step")).toBe(`${smokeSteps} / ${smokeSteps}`);
      expect(await page.getAttribute("#curve-loss", "alt")).toMatch(
        /latest batch loss \d\.\d{3}; test after epoch 2/,
      );
      const counts = await page.$$eval("#confusion-table tr", (rows) =>
        rows
          .slice(1)
          .map((row) => [...row.querySelectorAll("td")].map((td) => Number(td.textContent))),
      );
      expect(counts.flat().reduce((a, b) => a + b, 0)).toBe(smoke.testImages);
      await page.fill("#explain-index", "3");
      await page.press("#explain-index", "Enter");
      await waitForText(page, "#explain-status", /^test image 3: predicted \w+ \(\d+%\)/);
      expect(pageErrors).toEqual([]);
    });
  },
);
