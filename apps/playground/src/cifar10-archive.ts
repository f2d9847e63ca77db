// CIFAR-10's binary archive (cifar-10-binary.tar.gz) read in the page, from a URL or a file the
// person picked: gunzipped by the browser's DecompressionStream and untarred as it streams, its
// batch files parsed by @cnnkit/cifar10 (whose own loader downloads and caches with Node's fs).
import { type Cifar10Split, parseCifar10Split } from "@cnnkit/cifar10";
import { gunzip, readTar } from "./tar.js";

/** The archive's bytes as they arrive, and how many there will be when known. */
export interface ArchiveSource {
  /** Where it comes from, for messages: the URL or the file name. */
  name: string;
  stream: ReadableStream<Uint8Array>;
  /** Compressed bytes in all (`Content-Length`, the file's size), or `null` when unknown. */
  total: number | null;
}

/** Fetches `url`; fails with a message that says what to do when the server refuses. */
export async function archiveFromUrl(url: string): Promise<ArchiveSource> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new Error(
      `${url}: the request failed (${(cause as Error).message}). The server must allow this page to read it (CORS); the official host does not: download the archive once and pick the file instead.`,
      { cause },
    );
  }
  if (!response.ok || !response.body) {
    throw new Error(
      `${url}: expected the archive, got HTTP ${response.status} ${response.statusText}`,
    );
  }
  const length = Number(response.headers.get("content-length"));
  const encoded = response.headers.get("content-encoding");
  // With a Content-Encoding the length counts encoded bytes, not the ones the stream yields.
  const total = Number.isFinite(length) && length > 0 && !encoded ? length : null;
  return { name: url, stream: response.body, total };
}

/** A `cifar-10-binary.tar.gz` the person picked. */
export function archiveFromFile(file: Blob & { name?: string }): ArchiveSource {
  return { name: file.name ?? "the file", stream: file.stream(), total: file.size };
}

/** The two splits and how many compressed bytes were read. */
export interface Cifar10Data {
  train: Cifar10Split;
  test: Cifar10Split;
  bytes: number;
}

const TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
const TEST_FILE = "test_batch.bin";
const WANTED = new Set([...TRAIN_FILES, TEST_FILE]);

const basename = (path: string) => path.slice(path.lastIndexOf("/") + 1);

/**
 * Reads CIFAR-10 from its binary archive: `onProgress(read, total)` is called as the compressed
 * bytes arrive (at most every 1% or so). Throws an `Error` naming the source when it is not the
 * binary archive, or when it is damaged or incomplete.
 */
export async function readCifar10Archive(
  source: ArchiveSource,
  onProgress: (read: number, total: number | null) => void = () => {},
): Promise<Cifar10Data> {
  let read = 0;
  let reported = 0;
  const step = source.total ? source.total / 100 : 1 << 20;
  const counted = source.stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.length;
        if (read - reported >= step) {
          reported = read;
          onProgress(read, source.total);
        }
        controller.enqueue(chunk);
      },
    }),
  );
  let files: Map<string, Uint8Array>;
  try {
    files = await readTar(gunzip(counted), (path) => WANTED.has(basename(path)));
  } catch (cause) {
    const why = (cause as Error).message;
    throw new Error(
      `${source.name}: expected CIFAR-10's binary archive (cifar-10-binary.tar.gz, a gzipped tar), could not read it: ${why}`,
      { cause },
    );
  }
  onProgress(read, source.total);
  const byName = new Map([...files].map(([path, bytes]) => [basename(path), bytes]));
  const missing = [...WANTED].filter((name) => !byName.has(name));
  if (missing.length > 0) {
    const found = [...files.keys()].join(", ") || "none of them";
    throw new Error(
      `${source.name}: expected ${[...WANTED].join(", ")} in the archive; missing ${missing.join(", ")} (found ${found}). Is it the binary version (not the Python or MATLAB one)?`,
    );
  }
  const train = parseCifar10Split(
    TRAIN_FILES.map((name) => byName.get(name)!),
    TRAIN_FILES,
  );
  const test = parseCifar10Split([byName.get(TEST_FILE)!], [TEST_FILE]);
  return { train, test, bytes: read };
}
