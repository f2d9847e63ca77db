// A split from the bytes of CIFAR-10's binary batch files, for callers that fetch the files
// themselves (a browser page, a custom cache) instead of letting loadCifar10 download them.
import { CIFAR10_IMAGE_BYTES, CIFAR10_RECORD_BYTES } from "./constants.js";
import { decodeBinBatch } from "./decode-bin.js";
import { Cifar10Error } from "./errors.js";
import type { Cifar10Split } from "./read-folder.js";

/**
 * The split held by binary batch files (`data_batch_1.bin` … `data_batch_5.bin` for training,
 * `test_batch.bin` for test: records of one label byte and 3,072 planar pixel bytes), given as
 * their bytes, in order. Images come out NHWC as from `loadCifar10`. `names` name the files in
 * errors. Checksums are the caller's: compare with `CIFAR10_ARCHIVE_MD5` where the archive was
 * fetched.
 */
export function parseCifar10Split(
  files: readonly Uint8Array[],
  names: readonly string[] = files.map((_, i) => `batch ${i + 1}`),
): Cifar10Split {
  if (
    !Array.isArray(files) ||
    files.length === 0 ||
    files.some((f) => !(f instanceof Uint8Array))
  ) {
    throw new Cifar10Error(
      "invalid_split",
      `parseCifar10Split: expected the bytes of one or more .bin batch files (Uint8Array[]), got ${Array.isArray(files) ? `${files.length} items` : typeof files}`,
    );
  }
  const records = files.map((bytes, i) => {
    if (bytes.length === 0 || bytes.length % CIFAR10_RECORD_BYTES !== 0) {
      throw new Cifar10Error(
        "bad_size",
        `${names[i]}: expected a multiple of ${CIFAR10_RECORD_BYTES} bytes (1 label + 3,072 pixels per record), got ${bytes.length} (truncated download?)`,
      );
    }
    return bytes.length / CIFAR10_RECORD_BYTES;
  });
  const length = records.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(length * CIFAR10_IMAGE_BYTES);
  const labels = new Uint8Array(length);
  let first = 0;
  for (const [i, bytes] of files.entries()) {
    decodeBinBatch(bytes, names[i] ?? `batch ${i + 1}`, records[i]!, images, labels, first);
    first += records[i]!;
  }
  return { images, labels, length };
}
