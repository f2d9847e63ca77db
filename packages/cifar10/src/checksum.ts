// MD5 verification of dataset files, with a record of files already verified so an unchanged
// file is hashed once, not on every load.
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Cifar10Error } from "./errors.js";

export const STAMP_FILE = ".cnnkit-verified.json";

interface Stamp {
  size: number;
  mtimeMs: number;
  md5: string;
}

export function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/**
 * Remembers, in `<cacheDir>/.cnnkit-verified.json`, which files (by real path, size and mtime)
 * already matched which MD5. A changed file (new size or mtime) is hashed again.
 */
export class VerifiedFiles {
  private stamps: Record<string, Stamp> | undefined;
  private dirty = false;

  constructor(private readonly cacheDir: string | null) {}

  private async load(): Promise<Record<string, Stamp>> {
    if (this.stamps) return this.stamps;
    this.stamps = {};
    if (this.cacheDir) {
      try {
        const parsed = JSON.parse(await readFile(join(this.cacheDir, STAMP_FILE), "utf8"));
        if (parsed && typeof parsed === "object") this.stamps = parsed;
      } catch {
        // No record yet, or an unreadable one: everything gets hashed again, which is safe.
      }
    }
    return this.stamps!;
  }

  /**
   * Throws `checksum_mismatch` unless `bytes` (read from `path`, shown as `file`) have MD5
   * `expected`. Skips hashing when a stamp says this exact file already matched.
   */
  async verify(path: string, file: string, bytes: Uint8Array, expected: string): Promise<void> {
    const stamps = await this.load();
    const info = await stat(path);
    const stamp = stamps[path];
    if (
      stamp &&
      stamp.md5 === expected &&
      stamp.size === info.size &&
      stamp.mtimeMs === info.mtimeMs &&
      info.size === bytes.length
    ) {
      return;
    }
    const actual = md5(bytes);
    if (actual !== expected) {
      throw new Cifar10Error(
        "checksum_mismatch",
        `${file}: expected md5 ${expected}, got ${actual} (corrupt or modified file)`,
      );
    }
    stamps[path] = { size: info.size, mtimeMs: info.mtimeMs, md5: actual };
    this.dirty = true;
  }

  /** Forgets every stamp under `dir` (before its files are deleted or replaced). */
  async forget(dir: string): Promise<void> {
    const stamps = await this.load();
    for (const key of Object.keys(stamps)) {
      if (key.startsWith(dir)) {
        delete stamps[key];
        this.dirty = true;
      }
    }
  }

  /** Writes the record atomically; failures only cost a re-hash next time. */
  async save(): Promise<void> {
    if (!this.dirty || !this.cacheDir || !this.stamps) return;
    const file = join(this.cacheDir, STAMP_FILE);
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    try {
      await mkdir(this.cacheDir, { recursive: true });
      await writeFile(tmp, JSON.stringify(this.stamps, null, 1));
      await rename(tmp, file);
      this.dirty = false;
    } catch {
      // A read-only cache directory still loads; it just hashes every time.
    }
  }
}
