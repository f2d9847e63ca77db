// What every headless-Chromium test here shares: where Debian's chromium is, the rule that a
// missing browser skips locally but fails in CI, launching it, and a localhost file server.
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Browser, chromium } from "playwright-core";
import { describe, expect, it } from "vitest";

/** Debian's `chromium` (installed by `.ci/run`), or `$CHROMIUM_PATH`. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Whether the browser tests of `suite` can run: `true` when Chromium is there. Without it, says
 * `<suite> SKIPPED` locally; under `CI` registers one failing test instead, so a missing
 * browser is counted as a failure, not a skip.
 */
export function chromiumFound(suite: string): boolean {
  const found = existsSync(CHROMIUM);
  if (found) return true;
  if (process.env.CI) {
    describe("without Chromium in CI", () => {
      it("finds Chromium", () => {
        expect.fail(
          `expected Chromium at ${CHROMIUM} (Debian's chromium package, which .ci/run installs), found nothing`,
        );
      });
    });
  } else {
    console.warn(
      `${suite} SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
    );
  }
  return false;
}

/** Headless Chromium (no sandbox: CI runs as root). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/** A file served from memory. */
export interface ServedFile {
  type: string;
  body: string | Uint8Array;
}

/**
 * Serves on 127.0.0.1, on a free port: `files` by URL path, or a request handler (which ends
 * the response itself). Anything else is a 404.
 */
export async function serve(
  files:
    | Record<string, ServedFile>
    | ((request: IncomingMessage, response: ServerResponse) => void),
): Promise<{ server: Server; origin: string }> {
  const server = createServer((request, response) => {
    if (typeof files === "function") return files(request, response);
    const file = files[request.url ?? ""];
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": file.type }).end(file.body);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
