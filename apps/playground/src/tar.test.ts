import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "tar";
import { afterAll, describe, expect, it } from "vitest";
import { gunzip, readTar, TarError } from "./tar.js";

const made: string[] = [];
afterAll(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

/**
 * A .tar.gz of a few files, one under a folder name too long for a ustar header: made by
 * node-tar (a pax `path` record) or by GNU tar, as the CIFAR-10 archive was (a GNU long name).
 */
async function archive(
  format: "pax" | "gnu" = "pax",
): Promise<{ gz: Uint8Array; files: Record<string, Uint8Array> }> {
  const dir = await mkdtemp(join(tmpdir(), "playground-tar-"));
  made.push(dir);
  const long = `${"a-very-long-folder-name-".repeat(8)}end`;
  const files: Record<string, Uint8Array> = {
    "cifar-10-batches-bin/data_batch_1.bin": Uint8Array.from(
      { length: 3073 * 3 },
      (_, i) => i % 251,
    ),
    "cifar-10-batches-bin/readme.html": new TextEncoder().encode("<p>readme</p>"),
    "cifar-10-batches-bin/empty.bin": new Uint8Array(0),
    [`cifar-10-batches-bin/${long}/test_batch.bin`]: Uint8Array.from(
      { length: 1000 },
      (_, i) => i % 7,
    ),
  };
  for (const [path, bytes] of Object.entries(files)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), bytes);
  }
  const out = join(dir, "archive.tar.gz");
  if (format === "gnu") {
    execFileSync("tar", ["--format=gnu", "-czf", out, "-C", dir, "cifar-10-batches-bin"]);
  } else {
    await create({ gzip: true, file: out, cwd: dir, portable: true }, ["cifar-10-batches-bin"]);
  }
  return { gz: new Uint8Array(await readFile(out)), files };
}

function gunzipped(gz: Uint8Array, chunk = 777): ReadableStream<Uint8Array> {
  // Odd chunk sizes so headers and entries straddle reads, as they do from a network.
  let at = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= gz.length) return controller.close();
      controller.enqueue(gz.slice(at, at + chunk));
      at += chunk;
    },
  });
  return gunzip(source);
}

describe("readTar", () => {
  it.each(["pax", "gnu"] as const)(
    "returns the wanted files byte for byte, long paths included, and skips the rest (%s tar)",
    async (format) => {
      const { gz, files } = await archive(format);
      const got = await readTar(gunzipped(gz), (path) => path.endsWith(".bin"));
      const expected = Object.entries(files).filter(([path]) => path.endsWith(".bin"));
      expect([...got.keys()].sort()).toEqual(expected.map(([path]) => path).sort());
      for (const [path, bytes] of expected) expect(got.get(path)).toEqual(bytes);
    },
  );

  it("says where a truncated archive ends", async () => {
    const { gz } = await archive();
    const tar = new Uint8Array(await new Response(gunzipped(gz)).arrayBuffer());
    // Cut 100 bytes into data_batch_1.bin's content (0, 1, 2, … 250, 0, 1, …).
    const start = tar.findIndex((_, i) => tar.subarray(i, i + 64).every((b, j) => b === j));
    const cut = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(tar.slice(0, start + 100));
        controller.close();
      },
    });
    await expect(readTar(cut, () => true)).rejects.toThrow(
      /ended inside cifar-10-batches-bin\/data_batch_1\.bin \(truncated download\?\)/,
    );
  });

  it("refuses bytes that are not a tar archive", async () => {
    const junk = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(512).fill(65));
        controller.close();
      },
    });
    const error = await readTar(junk, () => true).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TarError);
    expect((error as Error).message).toMatch(/not a tar archive, or a damaged one/);
  });
});
