// Downloading the archive into the cache: temp file, resume or restart on a broken transfer,
// checksum, then an atomic rename, so the cache never holds half a file.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, open, rename, rm, stat } from "node:fs/promises";
import { basename } from "node:path";
import { Cifar10Error } from "./errors.js";
import { type ProgressBar, silentProgress } from "./progress.js";

export interface DownloadOptions {
  /** Further attempts after the first fails. */
  retries: number;
  /** Milliseconds before the first retry; doubled for each further one. */
  retryDelayMs: number;
  /** Milliseconds without a byte before a transfer counts as broken (and is resumed). */
  stallTimeoutMs: number;
  /** MD5 the finished file must have, or null to skip (mirrors). */
  md5: string | null;
  progress: ProgressBar;
  /** Extra text for the "no network" error: how to point at a local copy. */
  offlineHint: string;
  /** Where each broken attempt is reported, one line, before the next. Defaults to none. */
  log?: (line: string) => void;
}

/**
 * Bytes that must arrive within `stallTimeoutMs` for a transfer to count as moving: a server that
 * trickles a byte now and then would otherwise keep a download alive forever.
 */
const STALL_MIN_BYTES = 16 * 1024;

class Incomplete extends Error {}

async function fileMd5(path: string): Promise<string> {
  const hash = createHash("md5");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function describe(error: unknown): string {
  if (error instanceof Incomplete) return error.message;
  const e = error as { message?: string; cause?: { code?: string; message?: string } };
  const inner = e.cause?.code ?? e.cause?.message;
  return inner ? `${e.message} (${inner})` : String(e.message ?? error);
}

/**
 * Downloads `url` (http or https) to `dest`. A transfer that breaks is resumed with a Range
 * request when the server supports it, else restarted; after `retries` more tries it gives up
 * and removes its temp file.
 */
export async function download(url: string, dest: string, options: DownloadOptions): Promise<void> {
  const tmp = `${dest}.${process.pid}.${Date.now()}.part`;
  const name = basename(dest);
  let received = 0;
  let total: number | null = null;
  let lastError: unknown = null;
  let everConnected = false;
  try {
    for (let attempt = 0; attempt <= options.retries; attempt++) {
      if (attempt > 0) {
        await new Promise((r) => setTimeout(r, options.retryDelayMs * 2 ** (attempt - 1)));
      }
      let file: FileHandle | null = null;
      // A connection that goes silent never errors by itself: abort it after a quiet spell so
      // the retry logic can resume it.
      const abort = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(
          () => abort.abort(new Incomplete(`no data for ${options.stallTimeoutMs} ms`)),
          options.stallTimeoutMs,
        );
      };
      try {
        arm();
        const headers: Record<string, string> = {};
        if (received > 0) headers.range = `bytes=${received}-`;
        const response = await fetch(url, { headers, redirect: "follow", signal: abort.signal });
        everConnected = true;
        if (response.status === 206 && received > 0) {
          file = await open(tmp, "a");
        } else if (response.ok) {
          // A fresh start: either the first try or a server that ignores Range.
          received = 0;
          const length = Number(response.headers.get("content-length"));
          total = Number.isFinite(length) && length > 0 ? length : null;
          file = await open(tmp, "w");
        } else {
          const error = new Cifar10Error(
            "http_status",
            `${url}: expected HTTP 200, got ${response.status} ${response.statusText}`,
          );
          // 4xx will not get better by asking again.
          if (response.status >= 400 && response.status < 500) throw error;
          throw new Incomplete(error.message);
        }
        if (!response.body) throw new Incomplete("empty response body");
        let sinceArmed = 0;
        for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
          sinceArmed += chunk.length;
          if (sinceArmed >= STALL_MIN_BYTES) {
            arm();
            sinceArmed = 0;
          }
          await file.write(chunk);
          received += chunk.length;
          options.progress.update(received, total);
        }
        if (total !== null && received < total) throw new Incomplete("connection closed early");
        if (total !== null && received > total) {
          throw new Cifar10Error(
            "download_incomplete",
            `${url}: expected ${total} bytes, got ${received} (server sent more than announced)`,
          );
        }
        await file.close();
        file = null;
        options.progress.done();
        if (options.md5) {
          const actual = await fileMd5(tmp);
          if (actual !== options.md5) {
            throw new Cifar10Error(
              "checksum_mismatch",
              `${name} from ${url}: expected md5 ${options.md5}, got ${actual} (corrupt download?)`,
            );
          }
        }
        await rename(tmp, dest);
        return;
      } catch (error) {
        if (error instanceof Cifar10Error) throw error;
        lastError = abort.signal.aborted ? abort.signal.reason : error;
        // Keep what arrived: the next try asks for the rest.
        if (file) {
          await file.close().catch(() => {});
          received = (await stat(tmp).catch(() => ({ size: 0 }))).size;
        }
        if (attempt < options.retries) {
          options.progress.done();
          options.log?.(
            `${name}: ${describe(lastError)} from ${url} after ${received} bytes; trying again in ${(options.retryDelayMs * 2 ** attempt) / 1000} s (attempt ${attempt + 2} of ${options.retries + 1})`,
          );
        }
      } finally {
        clearTimeout(timer);
      }
    }
    options.progress.done();
    if (!everConnected) {
      throw new Cifar10Error(
        "network",
        `${url}: could not connect after ${options.retries + 1} attempts (${describe(lastError)}). No network? ${options.offlineHint}`,
        { cause: lastError },
      );
    }
    throw new Cifar10Error(
      "download_incomplete",
      `${url}: expected ${total ?? "more"} bytes, got ${received} after ${options.retries + 1} attempts (${describe(lastError)})`,
      { cause: lastError },
    );
  } finally {
    await rm(tmp, { force: true });
  }
}

export { silentProgress };
