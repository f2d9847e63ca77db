// MD5 verification of dataset files. Every load hashes every file it reads (about 0.3 s for the
// six binary batches): a record of size and mtime, as kept before, let a file damaged in place
// with its timestamps kept (a bad disk, a restore, `touch -r`) through as good data.
import { createHash } from "node:crypto";
import { Cifar10Error } from "./errors.js";

export function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/**
 * The `checksum_mismatch` error for `bytes` (shown as `file`) unless their MD5 is `expected`;
 * null when they match.
 */
export function checksumProblem(
  file: string,
  bytes: Uint8Array,
  expected: string,
): Cifar10Error | null {
  const actual = md5(bytes);
  if (actual === expected) return null;
  return new Cifar10Error(
    "checksum_mismatch",
    `${file}: expected md5 ${expected}, got ${actual} (corrupt or modified file)`,
  );
}
