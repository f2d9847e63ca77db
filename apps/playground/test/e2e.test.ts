// End to end: the playground built by vite, served by vite preview (with its isolation headers),
// driven in headless Chromium like a person would: load the real CIFAR-10 from a URL on
// 127.0.0.1, train the smoke recipe a few steps (pause and resume it), read the curves, the
// confusion matrix and a Grad-CAM image, download the export and check it with
// @cnnkit/export's verifier, download the TensorBoard events and read them back; then stop a
// fast-recipe run early on data picked from disk; last, offline, reopen it from its service
// worker's cache and train again. CNNKIT_PLAYGROUND_SCREENSHOTS=1 also saves
// the README's screenshots into docs/.
import { openAsBlob } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromiumFound, launchChromium } from "@cnnkit/browser-test/harness";
import { CIFAR10_CLASS_NAMES } from "@cnnkit/cifar10";
import { readManifest, verifyExport } from "@cnnkit/export";
import { decodeEvents } from "@cnnkit/tensorboard";
import { decodePNG } from "@cnnkit/viz";
import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { loadLayersModel } from "@tensorflow/tfjs-layers";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveFromFile, type Cifar10Data, readCifar10Archive } from "../src/cifar10-archive.js";
import { PRESETS } from "../src/presets.js";
import { app, archive, bytesOf, haveData, type Site, startSite, waitForText } from "./site.js";

const screenshots = process.env.CNNKIT_PLAYGROUND_SCREENSHOTS ? join(app, "docs") : null;

const found = chromiumFound("playground end-to-end test");
describe("the real CIFAR-10 archive", () => {
  it("is beside the repository when running in CI", () => {
    // Skipping locally is fine; in CI a missing dataset is a failure, not a skip.
    if (process.env.CI) expect(haveData, `${archive} is missing`).toBe(true);
    if (!haveData) console.warn(`playground end-to-end test SKIPPED: no ${archive}`);
  });
});

const smoke = PRESETS.smoke;
const smokeSteps = smoke.epochs * Math.ceil(smoke.trainImages / smoke.batchSize);

/** Clicks a download link and saves the file under `dir`; returns its path. */
async function download(page: Page, selector: string, dir: string): Promise<string> {
  const [file] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  const path = join(dir, file.suggestedFilename());
  await file.saveAs(path);
  return path;
}

async function screenshot(page: Page, selector: string, name: string): Promise<void> {
  if (screenshots) await page.locator(selector).screenshot({ path: join(screenshots, name) });
}

// Generous limits: CI runs this beside other packages' tests on 2 cores; nothing here is timed.
describe.skipIf(!found || !haveData)(
  "the playground in headless Chromium",
  { timeout: 240_000 },
  () => {
    let browser: Browser;
    let site: Site;
    let dataUrl: string;
    let page: Page;
    let cifar: Cifar10Data;
    const pageErrors: string[] = [];
    const downloads = mkdtemp(join(tmpdir(), "playground-downloads-"));

    beforeAll(async () => {
      site = await startSite();
      dataUrl = site.dataUrl;
      browser = await launchChromium();
      page = await browser.newPage({
        acceptDownloads: true,
        viewport: { width: 1100, height: 900 },
      });
      page.on("pageerror", (error) => pageErrors.push(error.message));
      page.on("console", (message) => {
        if (message.type() === "error") pageErrors.push(message.text());
      });
      await page.goto(site.pageUrl);
      // The same test images in Node, read by the page's own archive reader, for the verifier.
      cifar = await readCifar10Archive(archiveFromFile(await openAsBlob(archive)));
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await site?.close();
      const dir = await downloads;
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("says it trains on WebAssembly, why, and that the page is cross-origin isolated", async () => {
      await page.waitForSelector("#backend[data-backend]");
      const backend = page.locator("#backend");
      expect(await backend.getAttribute("data-backend")).toBe("wasm");
      expect(await backend.getAttribute("data-isolated")).toBe("true");
      expect(await backend.textContent()).toMatch(
        /^Training on WebAssembly(, one thread| with \d+ threads): @tensorflow\/tfjs-backend-wasm: WebAssembly \+ SIMD/,
      );
      const tried = await page.locator("#backend-tried li").allTextContents();
      expect(tried[0]).toMatch(
        /^not available: @tensorflow\/tfjs-node-gpu: not in this page's bundle/,
      );
      // The bundled WebGPU backend is tried first; headless Chromium offers no (real) adapter.
      expect(tried).toContainEqual(expect.stringMatching(/^not available: WebGPU: /));
      expect(tried.at(-1)).toMatch(/^chosen: @tensorflow\/tfjs-backend-wasm: WebAssembly/);
      expect(await page.textContent("#isolation")).toMatch(/is cross-origin isolated/);
    });

    it("names every control, and says what happens in live regions", async () => {
      const unnamed = await page.$$eval("input, button, select", (controls) =>
        controls
          .filter((c) => {
            const labelled = ((c as HTMLInputElement).labels?.length ?? 0) > 0;
            const text = c.tagName === "BUTTON" && (c.textContent ?? "").trim() !== "";
            return !labelled && !text && !c.getAttribute("aria-label");
          })
          .map((c) => c.outerHTML),
      );
      expect(unnamed).toEqual([]);
      for (const id of ["load-status", "train-status", "explain-status", "export-status"]) {
        expect(await page.getAttribute(`#${id}`, "role")).toBe("status");
      }
      // The progress bars are named by the status lines that say the same in words.
      expect(await page.getAttribute("#load-progress", "aria-labelledby")).toBe("load-status");
      expect(await page.getAttribute("#train-progress", "aria-labelledby")).toBe("train-status");
    });

    it("loads CIFAR-10 from a URL, with progress, and shows augmented training images", async () => {
      await page.evaluate(() => {
        const seen: string[] = [];
        (globalThis as unknown as { statuses: string[] }).statuses = seen;
        const status = document.querySelector("#load-status")!;
        new MutationObserver(() => seen.push(status.textContent ?? "")).observe(status, {
          childList: true,
        });
      });
      const url = page.getByLabel("CIFAR-10 binary archive URL");
      // A wrong URL first: the page says what it got, and loads nothing.
      await url.fill(dataUrl.replace("cifar-10", "no-such"));
      await url.press("Enter");
      expect(await waitForText(page, "#load-status", /^Error/)).toBe(
        `Error while loading: ${dataUrl.replace("cifar-10", "no-such")}: expected the archive, got HTTP 404 Not Found`,
      );
      expect(await page.isDisabled("#start")).toBe(true);
      await url.fill(dataUrl);
      await url.press("Enter");
      const loaded = await waitForText(page, "#load-status", /^Loaded /);
      expect(loaded).toMatch(/^Loaded 50,000 training and 10,000 test images \(170 MB in/);
      const statuses = await page.evaluate(
        () => (globalThis as unknown as { statuses: string[] }).statuses,
      );
      expect(statuses.some((s) => /^Reading the archive: \d+ MB of 170 MB \(\d+%\)/.test(s))).toBe(
        true,
      );
      await page.waitForSelector("#preview:not([hidden])");
      const grid = decodeURIComponent((await page.getAttribute("#preview-image", "src"))!);
      expect(grid).toMatch(/^data:image\/svg\+xml/);
      expect(grid.match(/<image /g)).toHaveLength(16);
      await screenshot(page, "#data", "data.png");
    });

    it("trains the smoke recipe with live figures and curves; pauses and resumes", async () => {
      await page.getByRole("radio", { name: /^Smoke:/ }).check();
      expect(await page.inputValue("#train-images")).toBe(String(smoke.trainImages));
      // By keyboard: focus the Train button and press Space.
      await page.getByRole("button", { name: "Train" }).focus();
      await page.keyboard.press("Space");
      await waitForText(page, "#fig-step", /^[2-9]\d* \//);
      await page.getByRole("button", { name: "Pause" }).click();
      const pausedAt = await waitForText(page, "#train-status", /^Paused/);
      expect(pausedAt).toBe("Paused: paused between two steps.");
      const step = await page.textContent("#fig-step");
      await page.waitForTimeout(1500);
      expect(await page.textContent("#fig-step")).toBe(step);
      await page.getByRole("button", { name: "Resume" }).click();
      await page.waitForSelector("#results:not([hidden])", { timeout: 120_000 });
      expect(await page.textContent("#fig-step")).toBe(`${smokeSteps} / ${smokeSteps}`);
      expect(Number(await page.textContent("#fig-speed"))).toBeGreaterThan(0);
      expect(await page.textContent("#fig-eta")).toBe("0 s");
      expect(await page.getAttribute("#curve-loss", "alt")).toMatch(
        new RegExp(
          `^Loss curve over ${smokeSteps} steps: latest batch loss \\d\\.\\d{3}; test after epoch 2`,
        ),
      );
      const curve = decodeURIComponent((await page.getAttribute("#curve-accuracy", "src"))!);
      expect(curve).toContain("<svg");
      expect(curve).toContain("<path");
      const epochs = await page.locator("#epochs-table tbody tr").allTextContents();
      expect(epochs).toHaveLength(smoke.epochs);
      // The focus moves to the results, which screen readers then read.
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("results-heading");
      await screenshot(page, "#train", "train.png");
    });

    it("measures the test images: confusion matrix, per-class table, failures and filters", async () => {
      const accuracy = Number(await page.getAttribute("#results", "data-accuracy"));
      const counts = await page.$$eval("#confusion-table tr", (rows) =>
        rows
          .slice(1)
          .map((row) => [...row.querySelectorAll("td")].map((td) => Number(td.textContent))),
      );
      expect(counts).toHaveLength(10);
      const total = counts.flat().reduce((a, b) => a + b, 0);
      expect(total).toBe(smoke.testImages);
      const diagonal = counts.reduce((sum, row, i) => sum + row[i]!, 0);
      expect(accuracy).toBeCloseTo(diagonal / total, 10);
      expect(await page.textContent("#results-summary")).toContain(
        `test accuracy ${(accuracy * 100).toFixed(1)}% on ${smoke.testImages} images`,
      );
      const perClass = await page.$$eval("#per-class tbody tr", (rows) =>
        rows.map((row) => Number(row.children[1]!.textContent)),
      );
      expect(perClass).toHaveLength(10);
      expect(perClass.reduce((a, b) => a + b, 0)).toBe(smoke.testImages);
      const failures = decodeURIComponent((await page.getAttribute("#failures-image", "src"))!);
      expect(failures.match(/<image /g)!.length).toBeGreaterThan(0);
      const filters = decodeURIComponent((await page.getAttribute("#filters-image", "src"))!);
      // SmallResNet's stem: 8 filters 3×3×3.
      expect(filters).toContain("stem_conv: 8 filters 3×3×3");
      await screenshot(page, "#results > .pair", "results.png");
      await screenshot(page, "figure:has(#failures-image)", "failures.png");
    });

    it("explains a test image the person picks with Grad-CAM", async () => {
      await page.fill("#explain-index", "3");
      await page.press("#explain-index", "Enter");
      const said = await waitForText(page, "#explain-status", /^test image 3: predicted/);
      const label = CIFAR10_CLASS_NAMES[cifar.test.labels[3]!];
      expect(said).toMatch(
        new RegExp(`^test image 3: predicted \\w+ \\(\\d+%\\), true class ${label}\\.$`),
      );
      const image = decodePNG(await bytesOf(page, "#explain-image", "src"));
      const overlay = decodePNG(await bytesOf(page, "#explain-overlay", "src"));
      expect(overlay).toMatchObject({ width: 128, height: 128 });
      expect(image).toMatchObject({ width: 128, height: 128 });
      // Test image 3 of CIFAR-10, enlarged 4× by repetition: its first pixel, then the heat laid on it.
      expect(Array.from(image.data.subarray(0, 3))).toEqual(
        Array.from(cifar.test.images.subarray(3 * 3072, 3 * 3072 + 3)),
      );
      let changed = 0;
      for (let i = 0; i < image.data.length; i++) if (image.data[i] !== overlay.data[i]) changed++;
      expect(changed).toBeGreaterThan(image.data.length / 2);
      await screenshot(page, "#explain", "grad-cam.png");
    });

    it("downloads an export that @cnnkit/export's verifier accepts, predicting what the page measured", async () => {
      const dir = await downloads;
      await page.click("#export");
      await page.waitForSelector("#export-files li:nth-child(4) a");
      const names = await page
        .locator("#export-files a")
        .evaluateAll((links) => links.map((a) => a.getAttribute("download")));
      expect(names).toEqual(["model.json", "group1-shard1of1.bin", "model.onnx", "manifest.json"]);
      expect(await page.textContent("#export-status")).toMatch(/save the 4 files into one folder/);
      for (let i = 1; i <= 4; i++) await download(page, `#export-files li:nth-child(${i}) a`, dir);
      const manifest = await readManifest(dir);
      const accuracy = Number(await page.getAttribute("#results", "data-accuracy"));
      expect(manifest.metrics).toMatchObject({
        preset: "smoke",
        testAccuracy: accuracy,
        steps: smokeSteps,
      });
      expect(manifest.versions.backend).toBe("wasm");

      // The reference: the downloaded model itself, loaded here with plain tfjs; the verifier
      // checks the files' digests and reruns the artifact in a fresh process on the same images.
      await tf.setBackend("cpu");
      const json = JSON.parse(await readFile(join(dir, "model.json"), "utf8"));
      const weights = await readFile(join(dir, "group1-shard1of1.bin"));
      const model = await loadLayersModel(
        tf.io.fromMemory({
          modelTopology: json.modelTopology,
          weightSpecs: json.weightsManifest[0].weights,
          weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.length),
        }),
      );
      const n = smoke.testImages;
      const report = await verifyExport(
        dir,
        {
          images: cifar.test.images.subarray(0, n * 3072),
          model,
          labels: cifar.test.labels.subarray(0, n),
        },
        { artifacts: ["tfjs", "onnx"], backend: "cpu" },
      );
      model.dispose();
      expect(report.ok).toBe(true);
      // Both artifacts checked (the ONNX one in onnxruntime-node, to the tfjs model's logits).
      expect(report.artifacts.map((a) => a.artifact)).toEqual(["tfjs", "onnx"]);
      // The page's accuracy (WebAssembly) and the export's (cpu) agree but for a borderline image.
      for (const artifact of report.artifacts) {
        expect(Math.abs(artifact.accuracy! - accuracy), artifact.artifact).toBeLessThanOrEqual(
          1 / n,
        );
      }
      await screenshot(page, "#downloads", "downloads.png");
    });

    it("offers the run's TensorBoard events as a download", async () => {
      const path = await download(page, "#events a", await downloads);
      expect(path).toMatch(/events\.out\.tfevents\.\d+\.cnnkit-playground$/);
      const { events, truncated } = decodeEvents(new Uint8Array(await readFile(path)));
      expect(truncated).toBeNull();
      const values = events.flatMap((e) => (e.summary ?? []).map((v) => ({ ...v, step: e.step })));
      const loss = values.filter((v) => v.tag === "train/loss");
      expect(loss.map((v) => v.step)).toEqual(Array.from({ length: smokeSteps }, (_, i) => i + 1));
      for (const v of loss) expect(Number.isFinite(v.simpleValue)).toBe(true);
      const testAcc = values.filter((v) => v.tag === "test/acc").map((v) => v.simpleValue);
      expect(testAcc).toHaveLength(smoke.epochs);
      expect(testAcc.at(-1)).toBeCloseTo(
        Number(await page.getAttribute("#results", "data-accuracy")),
        6,
      );
      const image = values.find((v) => v.tag === "test/confusion_matrix")?.image;
      expect(image?.width).toBeGreaterThan(100);
    });

    it("loads the archive picked from disk, and stops a fast-recipe run early with results", async () => {
      await page.setInputFiles("#data-file", archive);
      await waitForText(page, "#load-status", /^Loaded 50,000 training and 10,000 test images/);
      await page.check('input[name="preset"][value="cpu"]');
      await page.fill("#train-images", "1024");
      await page.fill("#test-images", "256");
      await page.click("#start");
      await waitForText(page, "#fig-step", /^1 \/ 4$/);
      await page.click("#stop");
      await page.waitForSelector("#results:not([hidden])", { timeout: 120_000 });
      const summary = (await page.textContent("#results-summary")) ?? "";
      const steps = Number(/^Stopped after (\d+) steps/.exec(summary)?.[1]);
      expect(steps).toBeGreaterThanOrEqual(1);
      expect(steps).toBeLessThan(4);
      expect(summary).toContain("on 256 images");
      // fastResNet's stem is the frozen 2×2 whitening convolution: 24 filters from 3 channels.
      const filters = decodeURIComponent((await page.getAttribute("#filters-image", "src"))!);
      expect(filters).toContain("stem_conv: 24 filters 2×2×3");
      expect(pageErrors).toEqual([]);
    });

    it("works offline once loaded: reopened without a network, it trains on an archive from disk", async () => {
      expect(await waitForText(page, "#offline", /^(Saved|Not saved)/)).toMatch(
        /^Saved for offline use/,
      );
      // Offline for real: the browser's network off and the server taken down.
      await page.context().setOffline(true);
      await site.close();
      try {
        // The page, its worker and tfjs's WebAssembly now come from the service worker's cache.
        await page.reload();
        await page.waitForSelector("#backend[data-backend]");
        expect(await page.getAttribute("#backend", "data-backend")).toBe("wasm");
        // Served from the cache with its headers: still cross-origin isolated.
        expect(await page.getAttribute("#backend", "data-isolated")).toBe("true");
        await page.setInputFiles("#data-file", archive);
        await waitForText(page, "#load-status", /^Loaded 50,000 training and 10,000 test images/);
        await page.getByRole("radio", { name: /^Smoke:/ }).check();
        await page.fill("#train-images", "64");
        await page.fill("#test-images", "64");
        await page.click("#start");
        await page.waitForSelector("#results:not([hidden])", { timeout: 120_000 });
        expect(await page.textContent("#fig-step")).toBe("4 / 4");
        expect(pageErrors).toEqual([]);
      } finally {
        await page.context().setOffline(false);
      }
    });
  },
);
