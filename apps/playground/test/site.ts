// What the browser tests share: the playground built by vite and served by vite preview (with
// its isolation headers), and the real CIFAR-10 archive served from another 127.0.0.1 origin
// with CORS, as a mirror would serve it (never copied into the repository).
import { createReadStream, existsSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "@cnnkit/browser-test/harness";
import type { Page } from "playwright-core";
import { build, preview } from "vite";

export const app = fileURLToPath(new URL("..", import.meta.url));
export const archive = resolve(app, "../../../shared/datasets/cifar-10-binary.tar.gz");
export const haveData = existsSync(archive);

export interface Site {
  /** The page's URL. */
  pageUrl: string;
  /** The archive's URL on the other origin. */
  dataUrl: string;
  close(): Promise<void>;
}

/** Builds the page into a temporary folder and serves it and the archive. */
export async function startSite(): Promise<Site> {
  const outDir = await mkdtemp(join(tmpdir(), "playground-dist-"));
  await build({ root: app, logLevel: "error", build: { outDir, emptyOutDir: true } });
  const site = await preview({
    root: app,
    logLevel: "error",
    build: { outDir },
    preview: { host: "127.0.0.1", port: 0 },
  });
  const size = statSync(archive).size;
  const served = await serve((request, response) => {
    const cors = { "access-control-allow-origin": "*" };
    if (request.url !== "/cifar-10-binary.tar.gz") {
      return void response.writeHead(404, cors).end();
    }
    response.writeHead(200, {
      ...cors,
      "content-type": "application/gzip",
      "content-length": size,
    });
    createReadStream(archive).pipe(response);
  });
  return {
    pageUrl: site.resolvedUrls!.local[0]!,
    dataUrl: `${served.origin}/cifar-10-binary.tar.gz`,
    // Idempotent: a test may take the site down early (to be offline for real).
    async close() {
      if (!served.server.listening) return;
      served.server.close();
      await site.close();
      await rm(outDir, { recursive: true, force: true });
    },
  };
}

/** Text of an element, once it matches `pattern`. */
export async function waitForText(page: Page, selector: string, pattern: RegExp): Promise<string> {
  try {
    await page.waitForFunction(
      ({ selector, source }) =>
        new RegExp(source).test(document.querySelector(selector)?.textContent ?? ""),
      { selector, source: pattern.source },
      { timeout: 120_000 },
    );
  } catch (error) {
    // Say what the element held instead, which is what a failing run needs to be read.
    const text = await page.textContent(selector).catch(() => null);
    throw new Error(
      `${selector} never matched ${pattern} (its text: ${JSON.stringify(text)}): ${String(error)}`,
    );
  }
  return (await page.textContent(selector)) ?? "";
}

/** The bytes behind an `<img>` or `<a>` of the page (blob: and data: URLs included). */
export async function bytesOf(
  page: Page,
  selector: string,
  attribute: "src" | "href",
): Promise<Uint8Array> {
  const values = await page.$eval(
    selector,
    async (node, attribute) => {
      const url = node.getAttribute(attribute) ?? "";
      return Array.from(new Uint8Array(await (await fetch(url)).arrayBuffer()));
    },
    attribute,
  );
  return Uint8Array.from(values);
}
