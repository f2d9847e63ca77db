// The one entry point for getting CIFAR-10, whatever form it is in: cache, URL, archive, folder.
import { mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { VerifiedFiles } from "./checksum.js";
import {
  BIN_FOLDER,
  CIFAR10_ARCHIVE_MD5,
  CIFAR10_ARCHIVE_NAME,
  CIFAR10_RECORDS_PER_BATCH,
  CIFAR10_URL,
  PY_FOLDER,
} from "./constants.js";
import { download } from "./download.js";
import { Cifar10Error } from "./errors.js";
import { extractArchive } from "./extract-archive.js";
import { progressBar, silentProgress } from "./progress.js";
import {
  type Cifar10,
  detectFormat,
  type FolderFormat,
  OFFICIAL_CHECKSUMS,
  readFolder,
} from "./read-folder.js";

export interface LoadCifar10Options {
  /**
   * A local copy to read: a `.tar.gz` archive, a `cifar-10-batches-bin/` or
   * `cifar-10-batches-py/` folder, or a folder holding one of those. When set, nothing is
   * downloaded. Defaults to none: use the cache, downloading into it if needed.
   */
  path?: string;
  /**
   * Where to download the archive from when the cache has no copy: an `https://` or `http://`
   * URL, or a `file://` URL or plain path to a local archive or folder. Defaults to
   * `$CNNKIT_CIFAR10_URL`, else the official URL.
   */
  url?: string;
  /**
   * Folder for the downloaded archive, the extracted `cifar-10-batches-bin/` and the record of
   * verified files. Defaults to `$CNNKIT_DATA_DIR`, else `$XDG_CACHE_HOME/cnnkit`, else
   * `~/.cache/cnnkit`.
   */
  cacheDir?: string;
  /**
   * Expected MD5 per batch file name (`"data_batch_1.bin"`, `"test_batch"`, …), `"official"`
   * for the published values, or `false` to skip. Defaults to `"official"`.
   */
  checksums?: "official" | Readonly<Record<string, string>> | false;
  /**
   * MD5 the downloaded archive must have, or `null` to skip. Defaults to the official MD5 when
   * downloading from the official URL, else `null` (mirrors repack; their `.bin` files are
   * still verified).
   */
  archiveMd5?: string | null;
  /** Records in each batch file. Defaults to 10000 (the official files); tests use fewer. */
  recordsPerBatch?: number;
  /** Further download attempts after a broken transfer. Defaults to 3. */
  retries?: number;
  /** Milliseconds before the first retry, doubled for each next one. Defaults to 500. */
  retryDelayMs?: number;
  /**
   * Milliseconds a download may go without receiving a byte before it is treated as broken and
   * resumed. Defaults to 60000.
   */
  stallTimeoutMs?: number;
  /** Draw a download progress bar on stderr. Defaults to `process.stderr.isTTY`. */
  progress?: boolean;
}

interface ResolvedLoadOptions {
  path: string | null;
  url: string;
  cacheDir: string;
  checksums: "official" | Readonly<Record<string, string>> | false;
  archiveMd5: string | null;
  recordsPerBatch: number;
  retries: number;
  retryDelayMs: number;
  stallTimeoutMs: number;
  progress: boolean;
}

function defaultCacheDir(): string {
  const env = process.env.CNNKIT_DATA_DIR;
  if (env) return resolve(env);
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg ? resolve(xdg) : join(homedir(), ".cache"), "cnnkit");
}

function resolveLoadOptions(options: LoadCifar10Options): ResolvedLoadOptions {
  const url = options.url ?? process.env.CNNKIT_CIFAR10_URL ?? CIFAR10_URL;
  const recordsPerBatch = options.recordsPerBatch ?? CIFAR10_RECORDS_PER_BATCH;
  if (!Number.isInteger(recordsPerBatch) || recordsPerBatch < 1) {
    throw new Cifar10Error(
      "invalid_option",
      `recordsPerBatch: expected a positive integer, got ${recordsPerBatch}`,
    );
  }
  const retries = options.retries ?? 3;
  if (!Number.isInteger(retries) || retries < 0) {
    throw new Cifar10Error("invalid_option", `retries: expected an integer ≥ 0, got ${retries}`);
  }
  return {
    path: options.path ? resolve(options.path) : null,
    url,
    cacheDir: options.cacheDir ? resolve(options.cacheDir) : defaultCacheDir(),
    checksums: options.checksums ?? "official",
    archiveMd5:
      options.archiveMd5 !== undefined
        ? options.archiveMd5
        : url === CIFAR10_URL
          ? CIFAR10_ARCHIVE_MD5
          : null,
    recordsPerBatch,
    retries,
    retryDelayMs: options.retryDelayMs ?? 500,
    stallTimeoutMs: options.stallTimeoutMs ?? 60_000,
    progress: options.progress ?? Boolean(process.stderr.isTTY),
  };
}

const OFFLINE_HINT =
  `Point at a local copy: loadCifar10({ path: "/path/to/${CIFAR10_ARCHIVE_NAME}" }), ` +
  `or set CNNKIT_CIFAR10_URL=file:///path/to/${CIFAR10_ARCHIVE_NAME}.`;

/**
 * Loads CIFAR-10 as `Uint8Array`s (NHWC, RGB) from wherever it is: `options.path`, the cache,
 * or `options.url` (downloaded once into the cache). Every batch file is checked against its
 * official MD5; an unchanged file is hashed only once (the record lives in the cache folder).
 *
 * @throws Cifar10Error naming the file at fault: `missing_file`, `bad_size`, `bad_label`,
 *   `checksum_mismatch`, `bad_archive`, `archive_missing_folder`, `unsafe_archive_entry`,
 *   `network`, `download_incomplete`, `http_status`, `no_dataset`, `bad_pickle`.
 */
export async function loadCifar10(options: LoadCifar10Options = {}): Promise<Cifar10> {
  const o = resolveLoadOptions(options);
  await removeStaleTemps(o.cacheDir);
  if (o.path) return loadFromPath(o.path, o);
  for (const [folder, format] of [
    [BIN_FOLDER, "bin"],
    [PY_FOLDER, "py"],
  ] as const) {
    const dir = join(o.cacheDir, folder);
    if ((await detectFormat(dir)) !== format) continue;
    try {
      return await read(dir, format, o);
    } catch (error) {
      // A damaged cached copy of the binary version is rebuilt below from the archive (cached or
      // downloaded again); anything else is the caller's folder to fix.
      if (!(error instanceof Cifar10Error) || format !== "bin" || o.checksums === false)
        throw error;
    }
  }
  if (!/^https?:\/\//i.test(o.url)) {
    const local = o.url.startsWith("file:") ? fileURLToPath(o.url) : resolve(o.url);
    return loadFromPath(local, o);
  }
  await mkdir(o.cacheDir, { recursive: true });
  const archive = join(o.cacheDir, CIFAR10_ARCHIVE_NAME);
  if (!(await exists(archive))) {
    await download(o.url, archive, {
      retries: o.retries,
      retryDelayMs: o.retryDelayMs,
      stallTimeoutMs: o.stallTimeoutMs,
      md5: o.archiveMd5,
      progress: o.progress ? progressBar(CIFAR10_ARCHIVE_NAME, process.stderr) : silentProgress,
      offlineHint: OFFLINE_HINT,
    });
  }
  try {
    return await loadArchive(archive, o);
  } catch (error) {
    // A downloaded archive that does not hold the dataset is useless: drop it so the next call
    // downloads again rather than failing forever on the same bytes.
    await rm(archive, { force: true });
    throw error;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes temp files and folders left in the cache by processes that died mid-download or
 * mid-extraction (their names carry the writer's pid); those of live processes are left alone.
 */
async function removeStaleTemps(cacheDir: string): Promise<void> {
  const entries = await readdir(cacheDir).catch(() => [] as string[]);
  for (const name of entries) {
    const m = /^\.extract-(\d+)-/.exec(name) ?? /\.(\d+)\.\d+\.part$/.exec(name);
    if (m && !alive(Number(m[1]))) await rm(join(cacheDir, name), { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function checksumsFor(format: FolderFormat, o: ResolvedLoadOptions) {
  return o.checksums === "official" ? OFFICIAL_CHECKSUMS[format] : o.checksums;
}

function read(dir: string, format: FolderFormat, o: ResolvedLoadOptions): Promise<Cifar10> {
  return readFolder(dir, format, {
    recordsPerBatch: o.recordsPerBatch,
    checksums: checksumsFor(format, o),
    verified: new VerifiedFiles(o.cacheDir),
  });
}

async function loadFromPath(path: string, o: ResolvedLoadOptions): Promise<Cifar10> {
  const info = await stat(path).catch((cause) => {
    throw new Cifar10Error(
      "no_dataset",
      `${path}: does not exist; expected a CIFAR-10 archive or folder`,
      {
        cause,
      },
    );
  });
  if (info.isFile()) return loadArchive(path, o);
  const format = await detectFormat(path);
  if (format) return read(path, format, o);
  for (const [folder, f] of [
    [BIN_FOLDER, "bin"],
    [PY_FOLDER, "py"],
  ] as const) {
    if ((await detectFormat(join(path, folder))) === f) return read(join(path, folder), f, o);
  }
  const entries = await readdir(path);
  if (entries.includes(CIFAR10_ARCHIVE_NAME))
    return loadArchive(join(path, CIFAR10_ARCHIVE_NAME), o);
  throw new Cifar10Error(
    "no_dataset",
    `${path}: expected ${BIN_FOLDER}/, ${PY_FOLDER}/, their batch files or ${CIFAR10_ARCHIVE_NAME}, found ${entries.length ? entries.slice(0, 10).join(", ") : "an empty folder"}`,
  );
}

/**
 * Extracts `archive` into a temp folder of the cache, reads and verifies it, then (when
 * checksums are on) moves the folder into place atomically, so a later call reads the folder
 * directly. Anything that fails leaves the cache as it was.
 */
async function loadArchive(archive: string, o: ResolvedLoadOptions): Promise<Cifar10> {
  // Only verified data is worth caching: with checksums, a cached copy that verifies is the
  // same data whichever archive it came from.
  const verifying = o.checksums !== false;
  const cached = join(o.cacheDir, BIN_FOLDER);
  if (verifying && (await detectFormat(cached)) === "bin") {
    try {
      return await read(cached, "bin", o);
    } catch (error) {
      if (!(error instanceof Cifar10Error)) throw error;
      // A damaged cached copy: rebuild it from the archive below.
      await new VerifiedFiles(o.cacheDir).forget(cached);
      await rm(cached, { recursive: true, force: true });
    }
  }
  await mkdir(o.cacheDir, { recursive: true });
  const tmp = await mkdtemp(join(o.cacheDir, `.extract-${process.pid}-`));
  try {
    const dir = await extractArchive(archive, tmp);
    const format: FolderFormat = basename(dir) === BIN_FOLDER ? "bin" : "py";
    const data = await read(dir, format, o);
    if (verifying) {
      const target = join(o.cacheDir, basename(dir));
      try {
        await rename(dir, target);
      } catch {
        // Another process put a copy there first; theirs is as good as ours.
      }
    }
    return data;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
