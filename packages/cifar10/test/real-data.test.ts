// Integration tests on the real CIFAR-10 at ../shared/datasets/ (beside the repository).
// Locally, without the archive, they skip and say why; under CI they fail instead.
import { existsSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { CIFAR10_CLASS_NAMES, type Cifar10, channelStats, loadCifar10 } from "../src/index.js";
import { serve, tempDir } from "./helpers.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
// CNNKIT_TEST_CIFAR10_ARCHIVE points elsewhere (and lets the skip/fail rule itself be checked).
const ARCHIVE =
  process.env.CNNKIT_TEST_CIFAR10_ARCHIVE ??
  join(REPO, "..", "shared", "datasets", "cifar-10-binary.tar.gz");
// Extracted once into the repository's gitignored .cache/, then reused by every run.
const CACHE = join(REPO, ".cache", "cifar10");
const present = existsSync(ARCHIVE);
const ci = Boolean(process.env.CI);

if (!present && !ci) {
  console.warn(
    `[cifar10] skipping real-data tests: ${ARCHIVE} not found (they fail instead when CI is set)`,
  );
}

describe.skipIf(!present && !ci)("real CIFAR-10", () => {
  // Every test asks for the data itself, so a missing archive under CI fails each of them
  // (a throwing beforeAll would only mark them skipped).
  let loaded: Promise<Cifar10> | undefined;
  const realData = (): Promise<Cifar10> => {
    if (!present) throw new Error(`CI is set but the real archive is missing: expected ${ARCHIVE}`);
    loaded ??= loadCifar10({ path: ARCHIVE, cacheDir: CACHE, progress: false });
    return loaded;
  };

  it("has 50,000 train and 10,000 test images, 5,000 and 1,000 per class", async () => {
    const data = await realData();
    expect(data.train.length).toBe(50_000);
    expect(data.test.length).toBe(10_000);
    expect(data.train.images.length).toBe(50_000 * 3072);
    const count = (labels: Uint8Array) => {
      const c = new Array(10).fill(0);
      for (const l of labels) c[l]++;
      return c;
    };
    expect(count(data.train.labels)).toEqual(new Array(10).fill(5000));
    expect(count(data.test.labels)).toEqual(new Array(10).fill(1000));
    // The one check of the class list every package imports against the real batches.meta.txt.
    expect(data.classNames).toEqual([...CIFAR10_CLASS_NAMES]);
  });

  it("starts with the documented labels", async () => {
    const data = await realData();
    expect([...data.train.labels.subarray(0, 10)]).toEqual([6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
    expect([...data.test.labels.subarray(0, 10)]).toEqual([3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
  });

  it("gives the published train mean and std to 4 decimals", async () => {
    const data = await realData();
    const { mean, std } = channelStats(data.train);
    expect(mean.map((v) => Number(v.toFixed(4)))).toEqual([0.4914, 0.4822, 0.4465]);
    expect(std.map((v) => Number(v.toFixed(4)))).toEqual([0.247, 0.2435, 0.2616]);
  });

  it("reads the cache on the next call without the archive", async () => {
    const data = await realData();
    const again = await loadCifar10({
      cacheDir: CACHE,
      url: "http://127.0.0.1:9/none",
      retries: 0,
    });
    expect(again.train.labels).toEqual(data.train.labels);
    expect(again.test.images.subarray(0, 3072)).toEqual(data.test.images.subarray(0, 3072));
  });

  describe("served over HTTP on 127.0.0.1", () => {
    let dir: string;
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("downloads the archive (with one broken transfer), verifies the .bin files and loads it", async () => {
      const data = await realData();
      dir = await tempDir();
      const bytes = await readFile(ARCHIVE);
      const server = await serve(bytes, { cutAfter: 10_000_000, cutTimes: 1 });
      try {
        const viaHttp = await loadCifar10({
          url: server.url,
          cacheDir: dir,
          progress: false,
          retryDelayMs: 1,
        });
        // The second request resumes where the first broke off (what arrived before the cut).
        expect(server.requests).toHaveLength(2);
        expect(server.requests[0]!.range).toBeUndefined();
        const resumedAt = Number(/^bytes=(\d+)-$/.exec(server.requests[1]!.range ?? "")?.[1]);
        expect(resumedAt).toBeGreaterThan(0);
        expect(resumedAt).toBeLessThanOrEqual(10_000_000);
        expect(viaHttp.train.labels).toEqual(data.train.labels);
        expect(viaHttp.train.images.subarray(49_999 * 3072)).toEqual(
          data.train.images.subarray(49_999 * 3072),
        );
        expect((await readdir(dir)).sort()).toEqual([
          "cifar-10-batches-bin",
          "cifar-10-binary.tar.gz",
        ]);
      } finally {
        await server.close();
      }
    });
  });
});
