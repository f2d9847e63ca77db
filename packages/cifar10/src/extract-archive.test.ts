import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { binBatch, datasetArchive, tarGz, tempDir } from "../test/helpers.js";
import { extractArchive, MAX_ENTRY_BYTES } from "./extract-archive.js";

let dir: string;
let target: string;
beforeEach(async () => {
  dir = await tempDir();
  target = join(dir, "out");
  await mkdir(target);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function archive(bytes: Uint8Array): Promise<string> {
  const path = join(dir, "a.tar.gz");
  await writeFile(path, bytes);
  return path;
}

describe("extractArchive", () => {
  it("streams the batch folder out of a .tar.gz, byte for byte", async () => {
    const path = await archive(datasetArchive());
    const out = await extractArchive(path, target);
    expect(out).toBe(join(target, "cifar-10-batches-bin"));
    expect((await readdir(out)).sort()).toContain("data_batch_3.bin");
    expect([...(await readFile(join(out, "data_batch_3.bin")))]).toEqual([...binBatch(2)]);
  });

  it("accepts ./-prefixed entries and skips files outside the dataset folder", async () => {
    const path = await archive(
      tarGz([
        { name: "./README", data: new Uint8Array([1]) },
        { name: "./cifar-10-batches-bin/test_batch.bin", data: binBatch(5) },
      ]),
    );
    const out = await extractArchive(path, target);
    expect(await readdir(target)).toEqual(["cifar-10-batches-bin"]);
    expect(await readdir(out)).toEqual(["test_batch.bin"]);
  });

  it.each([
    [
      "a '..' path",
      { name: "cifar-10-batches-bin/../../evil.txt", data: new Uint8Array([1]) },
      /climbs out of the target with '\.\.'/,
    ],
    [
      "an absolute path",
      { name: "/tmp/evil.txt", data: new Uint8Array([1]) },
      /is an absolute path/,
    ],
    [
      "a symlink",
      { name: "cifar-10-batches-bin/link", type: "2" as const, linkname: "/etc/passwd" },
      /is a SymbolicLink \(links are refused\)/,
    ],
    [
      "a hard link",
      { name: "cifar-10-batches-bin/hard", type: "1" as const, linkname: "/etc/passwd" },
      /is a Link \(links are refused\)/,
    ],
  ])(
    "refuses an archive with %s and writes nothing outside the target",
    async (_, entry, message) => {
      const path = await archive(
        tarGz([{ name: "cifar-10-batches-bin/test_batch.bin", data: binBatch(5) }, entry]),
      );
      await expect(extractArchive(path, target)).rejects.toMatchObject({
        code: "unsafe_archive_entry",
        message: expect.stringMatching(message),
      });
      expect((await readdir(dir)).sort()).toEqual(["a.tar.gz", "out"]);
    },
  );

  it("says which folders it found when the dataset folder is missing", async () => {
    const path = await archive(
      tarGz([{ name: "cifar-10-batches-mat/data.mat", data: new Uint8Array(3) }]),
    );
    await expect(extractArchive(path, target)).rejects.toMatchObject({
      code: "archive_missing_folder",
      message: expect.stringMatching(
        /a\.tar\.gz: expected a cifar-10-batches-bin\/ .*found cifar-10-batches-mat\//,
      ),
    });
  });

  it("reports a truncated or non-gzip archive as bad_archive, naming it", async () => {
    const full = datasetArchive();
    const truncated = await archive(full.subarray(0, Math.floor(full.length / 2)));
    await expect(extractArchive(truncated, target)).rejects.toMatchObject({
      code: "bad_archive",
      message: expect.stringContaining("a.tar.gz: could not read the archive"),
    });
    const garbage = await archive(gzipSync(new Uint8Array(2000).fill(7)));
    await expect(extractArchive(garbage, target)).rejects.toMatchObject({
      code: "bad_archive",
    });
  });
});

describe("extractArchive against decompression bombs", () => {
  it("refuses an entry larger than any CIFAR-10 file from its header, writing none of it", async () => {
    // 40 MB of zeros gzip to ~40 KB (about 1000:1): the header's size is enough to refuse it.
    const bomb = new Uint8Array(MAX_ENTRY_BYTES + 8 * 1024 * 1024);
    const path = await archive(
      tarGz([
        { name: "cifar-10-batches-bin/test_batch.bin", data: binBatch(5) },
        { name: "cifar-10-batches-bin/data_batch_1.bin", data: bomb },
      ]),
    );
    await expect(extractArchive(path, target)).rejects.toMatchObject({
      code: "archive_too_large",
      message: expect.stringMatching(
        /a\.tar\.gz: refused entry "cifar-10-batches-bin\/data_batch_1\.bin": it declares 41943040 bytes, more than the 33554432 any CIFAR-10 file has \(a decompression bomb, or not CIFAR-10\)/,
      ),
    });
    const written = await readdir(join(target, "cifar-10-batches-bin")).catch(() => []);
    expect(written).not.toContain("data_batch_1.bin");
  });

  it("refuses an archive whose entries add up to more than CIFAR-10 takes", async () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({
      name: `cifar-10-batches-bin/data_batch_${i + 1}.bin`,
      data: binBatch(i),
    }));
    const path = await archive(tarGz(entries));
    const per = binBatch(0).length;
    await expect(
      extractArchive(path, target, { maxEntryBytes: per, maxTotalBytes: 3 * per }),
    ).rejects.toMatchObject({
      code: "archive_too_large",
      message: expect.stringContaining(
        `brings the archive to ${4 * per} bytes, more than the ${3 * per}`,
      ),
    });
  });
});
