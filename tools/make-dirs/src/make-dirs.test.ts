import { mkdtemp, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeDirs } from "./make-dirs.js";

describe("makeDirs", () => {
  it("creates the missing levels, and accepts an existing folder", async () => {
    const root = await mkdtemp(join(tmpdir(), "make-dirs-"));
    await makeDirs(join(root, "a", "b", "c"));
    expect((await stat(join(root, "a", "b", "c"))).isDirectory()).toBe(true);
    await makeDirs(join(root, "a", "b", "c"));
  });

  it("fails at once, naming the folder, where Node's recursive mkdir spins forever (/proc)", async () => {
    await expect(makeDirs("/proc/cnnkit-x/y")).rejects.toMatchObject({
      code: "ENOENT",
      message:
        "/proc/cnnkit-x: cannot create this folder: this file system does not allow creating folders here (/proc or /sys?) (ENOENT)",
    });
  });

  it("names a file in the way", async () => {
    const root = await mkdtemp(join(tmpdir(), "make-dirs-"));
    await writeFile(join(root, "f"), "x");
    await expect(makeDirs(join(root, "f", "g"))).rejects.toMatchObject({ code: "ENOTDIR" });
  });
});
