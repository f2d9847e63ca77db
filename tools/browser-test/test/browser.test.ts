// Bundles src/page.ts for the browser with esbuild (sources through the @cnnkit/source
// condition, as every test here reads them), serves it on localhost and runs it in headless
// Chromium from Debian's `chromium` package, then checks what the page computed.
import { readdirSync, readFileSync } from "node:fs";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import * as ort from "onnxruntime-node";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumFound, launchChromium, type ServedFile, serve } from "../src/harness.js";
import type { ScenarioResult } from "../src/page.js";

// In CI a missing browser is a failed test, counted as one, not a skip.
const found = chromiumFound("browser test");

/** Bundles the page as a browser would get it; esbuild fails on any Node built-in it meets. */
async function bundlePage(): Promise<string> {
  const out = await build({
    entryPoints: [fileURLToPath(new URL("../src/page.ts", import.meta.url))],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    conditions: ["@cnnkit/source"],
    write: false,
    logLevel: "silent",
  });
  return out.outputFiles[0]!.text;
}

/** tfjs-backend-wasm's binaries, served at /wasm/ (the page's setWasmPaths). */
function wasmFiles(): Record<string, ServedFile> {
  const dist = dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm"));
  const files: Record<string, ServedFile> = {};
  for (const name of readdirSync(dist).filter((f) => f.endsWith(".wasm"))) {
    files[`/wasm/${name}`] = { type: "application/wasm", body: readFileSync(join(dist, name)) };
  }
  return files;
}

describe.skipIf(!found)("in headless Chromium", () => {
  let browser: Browser;
  let server: Server;
  let result: ScenarioResult;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const script = await bundlePage();
    const served = await serve({
      "/": {
        type: "text/html",
        body: '<!doctype html><script type="module" src="/page.js"></script>',
      },
      "/page.js": { type: "text/javascript", body: script },
      ...wasmFiles(),
    });
    server = served.server;
    browser = await launchChromium();
    const page = await browser.newPage();
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(`${served.origin}/`);
    await page.waitForFunction(() => "scenario" in globalThis);
    result = await page.evaluate(() =>
      (globalThis as unknown as { scenario: () => Promise<ScenarioResult> }).scenario(),
    );
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it("loads with no page errors; useBackend picks wasm, then cpu, and both predict alike", () => {
    expect(pageErrors).toEqual([]);
    expect(result.backends.wasm.backend).toBe("wasm");
    expect(result.backends.wasm.reason).toMatch(/^@tensorflow\/tfjs-backend-wasm: WebAssembly/);
    // onnxruntime-node is Node's: the page says why the convolutions stay on wasm.
    expect(result.backends.wasm.reason).toContain("onnxruntime-node: needs Node.js");
    expect(result.backends.cpu.backend).toBe("cpu");
    expect(result.backends.logits).toBe(16 * 10);
    expect(result.backends.cpuWasmDiff).toBeLessThan(1e-3);
    console.log(`browser test: ${result.losses.length} steps in ${Math.round(result.trainMs)} ms`);
  });

  it("parses CIFAR-10 batch bytes and batches them on the page's thread", () => {
    expect(result.cifar10).toEqual({
      length: 16,
      labels: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5],
      preparedOn: "main-thread",
    });
  });

  it("trains: AdamW under OneCycleLR lowers a finite loss", () => {
    expect(result.losses).toHaveLength(8);
    for (const loss of result.losses) expect(Number.isFinite(loss)).toBe(true);
    expect(result.losses.at(-1)!).toBeLessThan(result.losses[0]! * 0.9);
    // OneCycleLR warms up then anneals: the peak is inside the run, the last lr far below it.
    const peak = Math.max(...result.lrs);
    expect(peak).toBeCloseTo(1e-2, 3);
    expect(result.lrs[0]!).toBeLessThan(peak / 10);
    expect(result.lrs.at(-1)!).toBeLessThan(peak / 2);
    expect(result.resumedIterations).toBe(8);
  });

  it("measures: accuracy and a confusion matrix over all 16 images", () => {
    expect(result.confusionTotal).toBe(16);
    expect(result.accuracy).toBeGreaterThanOrEqual(0);
    expect(result.accuracy).toBeLessThanOrEqual(1);
  });

  it("draws the confusion matrix as SVG and as a PNG of twice its size", () => {
    const { width, height, svgHead } = result.picture;
    expect(svgHead).toMatch(new RegExp(`^<svg [^>]*width="${width}" height="${height}"`));
    expect(result.png).toMatchObject({ width: 2 * width, height: 2 * height });
    expect([3, 4]).toContain(result.png.channels);
  });

  it("explains: Grad-CAM maps in [0, 1] and a 32×32 overlay PNG", () => {
    expect(result.gradCam).toMatchObject({ maps: 2, height: 8, width: 8 });
    expect(result.gradCam.values).toHaveLength(2 * 8 * 8);
    for (const v of result.gradCam.values) expect(v >= 0 && v <= 1).toBe(true);
    expect(Math.max(...result.gradCam.values)).toBe(1);
    expect(result.overlay).toEqual({ width: 32, height: 32, channels: 3 });
  });

  it("logs TensorBoard events in memory, as bytes a page can download", () => {
    const { scalars, images, bytes, downloaded } = result.events;
    const loss = scalars.filter((s) => s.tag === "train/loss");
    expect(loss.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(loss.map((s) => s.value)).toEqual(result.losses.map(Math.fround));
    expect(images).toEqual([
      { tag: "confusion", width: result.picture.width, height: result.picture.height },
    ]);
    expect(downloaded).toBe(bytes);
  });

  it("writes the trained model as ONNX in the page, which onnxruntime runs to the page's logits", async () => {
    const { bytes, foldedBatchNorms, input, shape, logits } = result.onnx;
    expect(foldedBatchNorms).toBeGreaterThan(0);
    const session = await ort.InferenceSession.create(Uint8Array.from(bytes));
    try {
      const out = await session.run({
        input: new ort.Tensor("float32", Float32Array.from(input), shape),
      });
      const got = out.logits!.data as Float32Array;
      expect(got).toHaveLength(logits.length);
      let maxDiff = 0;
      for (let i = 0; i < got.length; i++)
        maxDiff = Math.max(maxDiff, Math.abs(got[i]! - logits[i]!));
      expect(maxDiff).toBeLessThan(1e-4);
    } finally {
      await session.release();
    }
  });

  it("says which functions need Node, and leaks no tensors", () => {
    expect(result.nodeOnly).toEqual({
      savePicture: "node_only",
      toPNG: "node_only",
      saveOptimizerState: "node_only",
    });
    expect(result.tensorsLeaked).toBe(0);
  });
});
