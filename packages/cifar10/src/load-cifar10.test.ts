import { readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BIN_NAMES,
  binBatch,
  CLASSES,
  datasetArchive,
  expectedImage,
  labelOf,
  RECORDS,
  tempDir,
  writeBinFolder,
  writePyFolder,
} from "../test/helpers.js";
import { md5 } from "./checksum.js";
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
  expect(data.classNames).toEqual(CLASSES);
  expect([...data.train.labels]).toEqual(Array.from({ length: 20 }, (_, i) => labelOf(i)));
  expect([...data.test.labels]).toEqual([20, 21, 22, 23].map(labelOf));
  // NHWC: image 7 of train and image 2 of test, pixel for pixel.
  expect([...data.train.images.subarray(7 * 3072, 8 * 3072)]).toEqual([...expectedImage(7)]);
  expect([...data.test.images.subarray(2 * 3072, 3 * 3072)]).toEqual([...expectedImage(22)]);
}

const officialLike = () => Object.fromEntries(BIN_NAMES.map((n, b) => [n, md5(binBatch(b))]));

describe("loadCifar10 from local copies", () => {
  it("reads an extracted cifar-10-batches-bin/ folder, or the folder above it", async () => {
    const bin = await writeBinFolder(dir);
    expectSmallDataset(await loadCifar10(small({ path: bin })));
    expectSmallDataset(await loadCifar10(small({ path: dir })));
  });

  it("hashes an unchanged folder once, remembering it in the cache, and again once it changes", async () => {
    const bin = await writeBinFolder(dir);
    const checksums = officialLike();
    await loadCifar10(small({ path: bin, checksums }));
    const stamps = JSON.parse(await readFile(join(cacheDir, ".cnnkit-verified.json"), "utf8"));
    expect(Object.keys(stamps).sort()).toEqual(BIN_NAMES.map((n) => join(bin, n)).sort());
    expect(stamps[join(bin, "test_batch.bin")].md5).toBe(checksums["test_batch.bin"]);
    // A same-size corruption with a new mtime is caught: the stamp no longer matches.
    const bytes = binBatch(5);
    bytes[9] = 255 - bytes[9]!;
    await writeFile(join(bin, "test_batch.bin"), bytes);
    await utimes(join(bin, "test_batch.bin"), new Date(), new Date(Date.now() + 5000));
    await expect(loadCifar10(small({ path: bin, checksums }))).rejects.toMatchObject({
      code: "checksum_mismatch",
    });
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
    expect((await readdir(cacheDir)).sort()).toEqual([
      ".cnnkit-verified.json",
      "cifar-10-batches-bin",
    ]);
    // No archive, no network: the cache alone serves the data.
    const offline = small({ checksums, url: "http://127.0.0.1:9/unreachable.tar.gz", retries: 0 });
    expectSmallDataset(await loadCifar10(offline));
    // A damaged cache with the archive beside it is rebuilt, even when no path is given.
    await writeFile(join(cacheDir, "cifar-10-batches-bin", "test_batch.bin"), new Uint8Array(10));
    await writeFile(join(cacheDir, "cifar-10-binary.tar.gz"), datasetArchive());
    expectSmallDataset(await loadCifar10(offline));
    await rm(join(cacheDir, "cifar-10-binary.tar.gz"));
    // A damaged cached file is detected and the folder rebuilt from the archive.
    await writeFile(join(cacheDir, "cifar-10-batches-bin", "data_batch_1.bin"), new Uint8Array(10));
    expectSmallDataset(await loadCifar10(small({ path: archive, checksums })));
    // Without checksums nothing is cached: the data could be anything.
    await rm(cacheDir, { recursive: true });
    await loadCifar10(small({ path: archive }));
    expect(await readdir(cacheDir)).toEqual([]);
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
