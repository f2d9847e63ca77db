import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BIN_NAMES,
  binBatch,
  datasetArchive,
  expectedImage,
  labelOf,
  RECORDS,
  tempDir,
  writeBinFolder,
  writePyFolder,
} from "../test/helpers.js";
import { md5 } from "./checksum.js";
import { CIFAR10_CLASS_NAMES } from "./constants.js";
import { type Cifar10, type LoadCifar10Options, loadCifar10 } from "./index.js";

let dir: string;
let cacheDir: string;
beforeEach(async () => {
  dir = await tempDir();
  cacheDir = join(dir, "cache");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Options for the small test dataset: 4 records a file, checksums of the files we wrote. */
function small(extra: LoadCifar10Options = {}): LoadCifar10Options {
  return { cacheDir, recordsPerBatch: RECORDS, checksums: false, progress: false, ...extra };
}

function expectSmallDataset(data: Cifar10): void {
  expect(data.train.length).toBe(5 * RECORDS);
  expect(data.test.length).toBe(RECORDS);
  expect(data.train.images.length).toBe(5 * RECORDS * 3072);
  expect(data.classNames).toEqual(CIFAR10_CLASS_NAMES);
  expect([...data.train.labels]).toEqual(Array.from({ length: 20 }, (_, i) => labelOf(i)));
  expect([...data.test.labels]).toEqual([20, 21, 22, 23].map(labelOf));
  // NHWC: image 7 of train and image 2 of test, pixel for pixel.
  expect([...data.train.images.subarray(7 * 3072, 8 * 3072)]).toEqual([...expectedImage(7)]);
  expect([...data.test.images.subarray(2 * 3072, 3 * 3072)]).toEqual([...expectedImage(22)]);
}

const officialLike = () => Object.fromEntries(BIN_NAMES.map((n, b) => [n, md5(binBatch(b))]));

/** A fixed time to give a file, so a damaged copy can keep exactly the same mtime. */
const PINNED = new Date("2024-01-02T03:04:05Z");

/** Flips one byte of `path` (whose times were set to PINNED) and puts its times back. */
async function damageInPlace(path: string): Promise<void> {
  const info = await stat(path);
  expect(info.mtimeMs).toBe(PINNED.getTime());
  const bytes = await readFile(path);
  bytes[9] = 255 - bytes[9]!;
  await writeFile(path, bytes);
  await utimes(path, PINNED, PINNED);
  const now = await stat(path);
  expect([now.size, now.mtimeMs]).toEqual([info.size, info.mtimeMs]);
}

/** Inode of every file of `dir`, by name. */
async function inodes(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const name of await readdir(dir)) out.set(name, (await stat(join(dir, name))).ino);
  return out;
}

describe("loadCifar10 from local copies", () => {
  it("reads an extracted cifar-10-batches-bin/ folder, or the folder above it", async () => {
    const bin = await writeBinFolder(dir);
    expectSmallDataset(await loadCifar10(small({ path: bin })));
    expectSmallDataset(await loadCifar10(small({ path: dir })));
  });

  it("hashes every file on every load: a damaged file that kept its size and mtime is caught", async () => {
    const bin = await writeBinFolder(dir);
    const checksums = officialLike();
    await utimes(join(bin, "test_batch.bin"), PINNED, PINNED);
    expectSmallDataset(await loadCifar10(small({ path: bin, checksums })));
    // Damaged in place with the timestamps put back (a restore, `touch -r`, a bad disk): a record
    // of size + mtime would call it the file already verified.
    await damageInPlace(join(bin, "test_batch.bin"));
    await expect(loadCifar10(small({ path: bin, checksums }))).rejects.toMatchObject({
      code: "checksum_mismatch",
      message: expect.stringContaining("cifar-10-batches-bin/test_batch.bin: expected md5"),
    });
    // Nothing is written beside the data to remember what was verified.
    expect(await readdir(dir)).not.toContain("cache");
  });

  it("reads the pickled cifar-10-batches-py/ folder to the same bytes", async () => {
    const py = await writePyFolder(dir);
    expectSmallDataset(await loadCifar10(small({ path: py })));
  });

  it("extracts a .tar.gz into the cache and leaves no temp folder behind", async () => {
    const archive = join(dir, "cifar-10-binary.tar.gz");
    await writeFile(archive, datasetArchive());
    expectSmallDataset(await loadCifar10(small({ path: archive })));
    expect((await readdir(cacheDir)).filter((n) => n.startsWith(".extract-"))).toEqual([]);
  });

  it("takes a file:// URL or a plain path as the url, and CNNKIT_CIFAR10_URL / CNNKIT_DATA_DIR", async () => {
    const archive = join(dir, "mirror.tar.gz");
    await writeFile(archive, datasetArchive());
    expectSmallDataset(await loadCifar10(small({ url: pathToFileURL(archive).href })));
    expectSmallDataset(await loadCifar10(small({ url: archive })));
    const saved = { url: process.env.CNNKIT_CIFAR10_URL, data: process.env.CNNKIT_DATA_DIR };
    try {
      process.env.CNNKIT_CIFAR10_URL = pathToFileURL(archive).href;
      process.env.CNNKIT_DATA_DIR = join(dir, "env-cache");
      const { cacheDir: _, ...rest } = small();
      expectSmallDataset(await loadCifar10(rest));
      expect(await readdir(dir)).toContain("env-cache");
    } finally {
      for (const [k, v] of [
        ["CNNKIT_CIFAR10_URL", saved.url],
        ["CNNKIT_DATA_DIR", saved.data],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("caches a verified extraction, reuses it without the archive, and rebuilds it if damaged", async () => {
    const archive = join(dir, "cifar-10-binary.tar.gz");
    await writeFile(archive, datasetArchive());
    const checksums = officialLike();
    expectSmallDataset(await loadCifar10(small({ path: archive, checksums })));
    expect(await readdir(cacheDir)).toEqual(["cifar-10-batches-bin"]);
    // No archive, no network: the cache alone serves the data.
    const offline = small({ checksums, url: "http://127.0.0.1:9/unreachable.tar.gz", retries: 0 });
    expectSmallDataset(await loadCifar10(offline));
    // A damaged cache with the archive beside it is repaired, even when no path is given.
    await writeFile(join(cacheDir, "cifar-10-batches-bin", "test_batch.bin"), new Uint8Array(10));
    await writeFile(join(cacheDir, "cifar-10-binary.tar.gz"), datasetArchive());
    expectSmallDataset(await loadCifar10({ ...offline, log: () => {} }));
    await rm(join(cacheDir, "cifar-10-binary.tar.gz"));
    // A damaged cached file is detected and repaired from the archive given as the path.
    await writeFile(join(cacheDir, "cifar-10-batches-bin", "data_batch_1.bin"), new Uint8Array(10));
    expectSmallDataset(await loadCifar10(small({ path: archive, checksums, log: () => {} })));
    // Without checksums nothing is cached: the data could be anything.
    await rm(cacheDir, { recursive: true });
    await loadCifar10(small({ path: archive }));
    expect(await readdir(cacheDir)).toEqual([]);
  });
});

describe("loadCifar10 repairing the cache", () => {
  const binDir = () => join(cacheDir, "cifar-10-batches-bin");

  /** A cache filled from a mirror archive, plus files of the user's own kept in its folder. */
  async function cacheWithUserFiles(): Promise<{
    mirror: string;
    checksums: Record<string, string>;
  }> {
    const mirror = join(dir, "mirror.tar.gz");
    await writeFile(mirror, datasetArchive());
    const checksums = officialLike();
    expectSmallDataset(await loadCifar10(small({ url: mirror, checksums })));
    await writeFile(join(binDir(), "notes.txt"), "my notes");
    await mkdir(join(binDir(), "mine"));
    await writeFile(join(binDir(), "mine", "labels-fixed.bin"), "mine too");
    return { mirror, checksums };
  }

  async function expectUserFilesKept(): Promise<void> {
    expect(await readFile(join(binDir(), "notes.txt"), "utf8")).toBe("my notes");
    expect(await readFile(join(binDir(), "mine", "labels-fixed.bin"), "utf8")).toBe("mine too");
  }

  it("replaces only the damaged file from the mirror, keeping the folder and the user's files", async () => {
    const { mirror, checksums } = await cacheWithUserFiles();
    const before = await inodes(binDir());
    await writeFile(join(binDir(), "data_batch_3.bin"), new Uint8Array(100));
    const lines: string[] = [];
    expectSmallDataset(
      await loadCifar10(small({ url: mirror, checksums, log: (l) => lines.push(l) })),
    );
    await expectUserFilesKept();
    const after = await inodes(binDir());
    // Same folder, same files: only data_batch_3.bin is a new file.
    for (const [name, ino] of before) {
      if (name === "data_batch_3.bin") expect(after.get(name), name).not.toBe(ino);
      else expect(after.get(name), name).toBe(ino);
    }
    expect(md5(await readFile(join(binDir(), "data_batch_3.bin")))).toBe(
      checksums["data_batch_3.bin"],
    );
    expect(lines).toEqual([
      expect.stringMatching(
        /^CIFAR-10 cache .*\/cache: cifar-10-batches-bin\/data_batch_3\.bin: expected md5 [0-9a-f]{32}, got [0-9a-f]{32} \(corrupt or modified file\)$/,
      ),
      `CIFAR-10 cache ${cacheDir}: replaced cifar-10-batches-bin/data_batch_3.bin with a verified copy from ${mirror}`,
    ]);
    // No temporary file is left in the cache or its folder.
    expect((await readdir(binDir())).filter((n) => n.startsWith("."))).toEqual([]);
    expect((await readdir(cacheDir)).filter((n) => n.startsWith("."))).toEqual([]);
  });

  it("catches a cached file damaged in place with size and mtime kept, says so and repairs it", async () => {
    const { mirror, checksums } = await cacheWithUserFiles();
    await utimes(join(binDir(), "test_batch.bin"), PINNED, PINNED);
    expectSmallDataset(await loadCifar10(small({ url: mirror, checksums })));
    await damageInPlace(join(binDir(), "test_batch.bin"));
    const lines: string[] = [];
    const data = await loadCifar10(small({ url: mirror, checksums, log: (l) => lines.push(l) }));
    expectSmallDataset(data);
    expect(lines.join("\n")).toContain(
      `CIFAR-10 cache ${cacheDir}: cifar-10-batches-bin/test_batch.bin: expected md5 ${checksums["test_batch.bin"]}`,
    );
    await expectUserFilesKept();
  });

  it("puts back missing files, also from a mirror folder, and names every damaged file", async () => {
    const { checksums } = await cacheWithUserFiles();
    const mirrorParent = join(dir, "mirror-folder");
    await writeBinFolder(mirrorParent);
    await rm(join(binDir(), "data_batch_1.bin"));
    await writeFile(join(binDir(), "test_batch.bin"), new Uint8Array(3));
    const lines: string[] = [];
    expectSmallDataset(
      await loadCifar10(small({ url: mirrorParent, checksums, log: (l) => lines.push(l) })),
    );
    expect(lines[0]).toContain(`${join(binDir(), "data_batch_1.bin")}: missing`);
    expect(lines[1]).toContain("cifar-10-batches-bin/test_batch.bin: expected md5");
    expect(lines[2]).toBe(
      `CIFAR-10 cache ${cacheDir}: replaced cifar-10-batches-bin/data_batch_1.bin, cifar-10-batches-bin/test_batch.bin with verified copies from ${join(mirrorParent, "cifar-10-batches-bin")}`,
    );
    await expectUserFilesKept();
  });

  it("fails naming the damaged file when no source has a good copy, changing nothing", async () => {
    const { checksums } = await cacheWithUserFiles();
    await writeFile(join(binDir(), "data_batch_2.bin"), new Uint8Array(7));
    // A mirror whose copy of that file is damaged too.
    const badMirror = join(dir, "bad-mirror");
    await writeBinFolder(badMirror, (files) => {
      files.set("data_batch_2.bin", new Uint8Array(7));
    });
    await expect(
      loadCifar10(small({ url: badMirror, checksums, log: () => {} })),
    ).rejects.toMatchObject({
      code: "checksum_mismatch",
      message: expect.stringMatching(
        /^cifar-10-batches-bin\/data_batch_2\.bin: expected md5 .*; could not repair it from .*bad-mirror: .*bad-mirror\/cifar-10-batches-bin\/data_batch_2\.bin: expected md5/,
      ),
    });
    expect((await readFile(join(binDir(), "data_batch_2.bin"))).length).toBe(7);
    await expectUserFilesKept();
  });
});

describe("loadCifar10 errors", () => {
  it("names a truncated file with expected and received sizes", async () => {
    const bin = await writeBinFolder(dir, (files) => {
      files.set("data_batch_2.bin", binBatch(1).subarray(0, 5000));
    });
    await expect(loadCifar10(small({ path: bin }))).rejects.toMatchObject({
      code: "bad_size",
      message:
        "cifar-10-batches-bin/data_batch_2.bin: expected 12292 bytes (4 records of 3073), got 5000 (truncated download or copy?)",
    });
  });

  it("names a file whose checksum is wrong", async () => {
    const bin = await writeBinFolder(dir, (files) => {
      const bytes = binBatch(4);
      bytes[100] = 255 - bytes[100]!;
      files.set("data_batch_5.bin", bytes);
    });
    await expect(
      loadCifar10(small({ path: bin, checksums: officialLike() })),
    ).rejects.toMatchObject({
      code: "checksum_mismatch",
      message: expect.stringMatching(
        /^cifar-10-batches-bin\/data_batch_5\.bin: expected md5 [0-9a-f]{32}, got [0-9a-f]{32} \(corrupt or modified file\)$/,
      ),
    });
    // A good copy verifies.
    await rm(bin, { recursive: true });
    await writeBinFolder(dir);
    expectSmallDataset(await loadCifar10(small({ path: bin, checksums: officialLike() })));
  });

  it("names the file and record of a label byte above 9", async () => {
    const bin = await writeBinFolder(dir, (files) => {
      const bytes = binBatch(5);
      bytes[2 * 3073] = 10;
      files.set("test_batch.bin", bytes);
    });
    await expect(loadCifar10(small({ path: bin }))).rejects.toMatchObject({
      code: "bad_label",
      message:
        "cifar-10-batches-bin/test_batch.bin: record 2 has label 10, expected 0–9 (not a CIFAR-10 batch, or corrupt)",
    });
  });

  it("names a missing batch file", async () => {
    const bin = await writeBinFolder(dir, (files) => {
      files.delete("data_batch_4.bin");
    });
    await expect(loadCifar10(small({ path: bin }))).rejects.toMatchObject({
      code: "missing_file",
      message: expect.stringContaining(
        `${join(bin, "data_batch_4.bin")}: missing; expected the folder to hold data_batch_1.bin`,
      ),
    });
  });

  it("refuses the official checksums for files that are not the official ones", async () => {
    const bin = await writeBinFolder(dir);
    await expect(
      loadCifar10({ path: bin, cacheDir, recordsPerBatch: RECORDS }),
    ).rejects.toMatchObject({
      code: "checksum_mismatch",
      message: expect.stringContaining(
        "data_batch_1.bin: expected md5 5dd7e06a14cb22eb9f671a540d1b7c25",
      ),
    });
  });

  it("leaves the cache clean when an archive lacks the dataset folder", async () => {
    const archive = join(dir, "cifar-10-binary.tar.gz");
    await writeFile(
      archive,
      datasetArchive((entries) => {
        for (const e of entries) e.name = e.name.replace("cifar-10-batches-bin", "stuff");
      }),
    );
    await expect(loadCifar10(small({ path: archive }))).rejects.toMatchObject({
      code: "archive_missing_folder",
      message: expect.stringContaining(
        "expected a cifar-10-batches-bin/ (or cifar-10-batches-py/) folder, found stuff/",
      ),
    });
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it("says what it expected when a path holds no dataset", async () => {
    await writeFile(join(dir, "notes.txt"), "hi");
    await expect(loadCifar10(small({ path: dir }))).rejects.toMatchObject({
      code: "no_dataset",
      message: expect.stringMatching(
        /expected cifar-10-batches-bin\/, cifar-10-batches-py\/.*found cache|notes\.txt/,
      ),
    });
    await expect(loadCifar10(small({ path: join(dir, "nope") }))).rejects.toMatchObject({
      code: "no_dataset",
    });
  });

  it("rejects bad options", async () => {
    await expect(loadCifar10({ recordsPerBatch: 0 })).rejects.toThrow(
      "recordsPerBatch: expected a positive integer, got 0",
    );
    await expect(loadCifar10({ retries: -1 })).rejects.toThrow(
      "retries: expected an integer ≥ 0, got -1",
    );
  });
});
