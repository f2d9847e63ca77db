// Bad caches, wrong folders and hostile servers: nothing the user kept is deleted, a stalled
// download is never silent and always ends, and every failure says what is wrong with which file.
import { chmod, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { datasetArchive, RECORDS, serve, type TestServer, tempDir } from "../test/helpers.js";
import { type LoadCifar10Options, loadCifar10 } from "./index.js";

let dir: string;
let cacheDir: string;
let server: TestServer | null = null;
const archive = datasetArchive();

beforeEach(async () => {
  dir = await tempDir();
  cacheDir = join(dir, "cache");
});
afterEach(async () => {
  await server?.close();
  server = null;
  await chmod(dir, 0o755).catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

function opts(url: string, extra: LoadCifar10Options = {}): LoadCifar10Options {
  return {
    url,
    cacheDir,
    recordsPerBatch: RECORDS,
    checksums: false,
    progress: false,
    retries: 1,
    retryDelayMs: 1,
    ...extra,
  };
}

const OFFLINE = "http://127.0.0.1:9/cifar-10-binary.tar.gz";

describe("an archive the app did not download is never deleted", () => {
  it("keeps a damaged archive the user put in the cache folder, saying how to replace it", async () => {
    await mkdir(cacheDir, { recursive: true });
    const mine = join(cacheDir, "cifar-10-binary.tar.gz");
    await writeFile(mine, "my half-copied archive");
    await expect(loadCifar10(opts(OFFLINE))).rejects.toMatchObject({
      code: "bad_archive",
      message: expect.stringMatching(
        /cifar-10-binary\.tar\.gz: could not read the archive .*; the archive was left in place: delete .*cifar-10-binary\.tar\.gz to download it again$/,
      ),
    });
    expect(await readFile(mine, "utf8")).toBe("my half-copied archive");
  });

  it("still drops an archive it has just downloaded that turns out not to be CIFAR-10", async () => {
    server = await serve(new TextEncoder().encode("not a tar.gz at all"));
    await expect(loadCifar10(opts(server.url))).rejects.toMatchObject({ code: "bad_archive" });
    expect(await readdir(cacheDir)).toEqual([]);
  });
});

describe("a wrong or damaged cache folder is named, not blamed on the network", () => {
  it("says what the folder holds when it is not CIFAR-10 and the download fails", async () => {
    await mkdir(join(cacheDir, "photos"), { recursive: true });
    await writeFile(join(cacheDir, "notes.txt"), "x");
    await expect(loadCifar10(opts(OFFLINE))).rejects.toMatchObject({
      code: "network",
      message: expect.stringMatching(
        new RegExp(
          `^${cacheDir} holds no CIFAR-10 \\(expected cifar-10-batches-bin/ with its batch files or cifar-10-binary\\.tar\\.gz; found notes\\.txt, photos\\), so it was to be downloaded there; http://127\\.0\\.0\\.1:9/`,
        ),
      ),
    });
  });

  it("says the cached batch folder lost its batch files", async () => {
    await mkdir(join(cacheDir, "cifar-10-batches-bin"), { recursive: true });
    await writeFile(join(cacheDir, "cifar-10-batches-bin", "batches.meta.txt"), "airplane\n");
    await expect(loadCifar10(opts(OFFLINE))).rejects.toMatchObject({
      message: expect.stringContaining(
        "its cifar-10-batches-bin/ lacks data_batch_1.bin and test_batch.bin (holds batches.meta.txt)",
      ),
    });
  });
});

describe("a download that stalls", () => {
  it("gives up after a bounded time on a server that trickles a byte at a time, saying so at each retry", async () => {
    // Headers, then one byte every 50 ms: never silent long enough for a plain idle timer.
    const http = createServer((_req, res) => {
      res.writeHead(200, { "content-length": String(archive.length) });
      let i = 0;
      const timer = setInterval(() => {
        if (i >= archive.length) return clearInterval(timer);
        res.write(archive.subarray(i, i + 1));
        i++;
      }, 50);
      res.on("close", () => clearInterval(timer));
    });
    await new Promise<void>((ok) => http.listen(0, "127.0.0.1", ok));
    const port = (http.address() as { port: number }).port;
    const lines: string[] = [];
    const started = Date.now();
    try {
      await expect(
        loadCifar10(
          opts(`http://127.0.0.1:${port}/cifar-10-binary.tar.gz`, {
            stallTimeoutMs: 400,
            log: (l) => lines.push(l),
          }),
        ),
      ).rejects.toMatchObject({ code: "download_incomplete" });
    } finally {
      http.closeAllConnections();
      await new Promise((ok) => http.close(ok));
    }
    // Two attempts of 400 ms each, plus the retry delay: well under the minutes it would take.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^cifar-10-binary\.tar\.gz: no data for 400 ms from http:\/\/127\.0\.0\.1:\d+\/cifar-10-binary\.tar\.gz after \d+ bytes; trying again in 0\.001 s \(attempt 2 of 2\)$/,
    );
  });

  it("reports progress in lines when there is no terminal", async () => {
    const { progressLines } = await import("./progress.js");
    const lines: string[] = [];
    const bar = progressLines("cifar-10-binary.tar.gz", (l) => lines.push(l), 0);
    bar.update(50 * 1024 * 1024, 100 * 1024 * 1024);
    expect(lines[0]).toMatch(
      /^cifar-10-binary\.tar\.gz: 50\.0 MB of 100\.0 MB \(50%\) downloaded, [\d.]+ MB\/s$/,
    );
  });
});
