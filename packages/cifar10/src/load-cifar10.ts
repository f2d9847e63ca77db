// The one entry point for getting CIFAR-10, whatever form it is in: cache, URL, archive, folder.
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeDirs } from "@cnnkit/make-dirs";
import { checksumProblem } from "./checksum.js";
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
import { progressBar, progressLines, silentProgress } from "./progress.js";
import {
  type Cifar10,
  DamagedFolderError,
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
  /**
   * Download progress: `true` draws a bar on stderr, `false` shows none. Defaults to the bar on
   * a terminal, else a line through `log` every 10 s (a slow or stalled download is never silent).
   */
  progress?: boolean;
  /**
   * Where to report, one line each, a damaged or missing file of the cached folder and its
   * repair. Defaults to a line on stderr.
   */
  log?: (line: string) => void;
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
  progress: boolean | "lines";
  log: (line: string) => void;
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
    progress: options.progress ?? (process.stderr.isTTY ? true : "lines"),
    log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
  };
}

const OFFLINE_HINT =
  `Point at a local copy: loadCifar10({ path: "/path/to/${CIFAR10_ARCHIVE_NAME}" }), ` +
  `or set CNNKIT_CIFAR10_URL=file:///path/to/${CIFAR10_ARCHIVE_NAME}.`;

/**
 * Loads CIFAR-10 as `Uint8Array`s (NHWC, RGB) from wherever it is: `options.path`, the cache,
 * or `options.url` (downloaded once into the cache). Every batch file is checked against its
 * official MD5 on every call.
 *
 * A cached `cifar-10-batches-bin/` whose batch files are damaged or missing is repaired file by
 * file: each bad file is reported (`options.log`) and replaced by a verified copy from the cached
 * archive, else `options.url`. Nothing else in the folder is touched: files the cache did not put
 * there are never deleted.
 *
 * @throws Cifar10Error naming the file at fault: `missing_file`, `bad_size`, `bad_label`,
 *   `checksum_mismatch`, `bad_archive`, `archive_missing_folder`, `unsafe_archive_entry`,
 *   `network`, `download_incomplete`, `http_status`, `no_dataset`, `bad_pickle`.
 */
export async function loadCifar10(options: LoadCifar10Options = {}): Promise<Cifar10> {
  const o = resolveLoadOptions(options);
  await removeStaleTemps(o.cacheDir);
  if (o.path) return loadFromPath(o.path, o);
  if ((await detectFormat(join(o.cacheDir, BIN_FOLDER))) === "bin") return readCache(o, null);
  const py = join(o.cacheDir, PY_FOLDER);
  if ((await detectFormat(py)) === "py") return read(py, "py", o);
  if (!isHttp(o.url)) return loadFromPath(localPath(o.url), o);
  const { archive, fresh } = await downloadedArchive(o);
  try {
    return await loadArchive(archive, o);
  } catch (error) {
    // An archive just downloaded that does not hold the dataset is useless: drop it so the next
    // call downloads again rather than failing forever on the same bytes. One that was there
    // before may be the user's own copy; a full or read-only disk says nothing about an archive.
    if (fresh && error instanceof Cifar10Error && ARCHIVE_CODES.has(error.code)) {
      await rm(archive, { force: true });
    } else if (error instanceof Cifar10Error && ARCHIVE_CODES.has(error.code)) {
      throw new Cifar10Error(
        error.code,
        `${error.message}; the archive was left in place: delete ${archive} to download it again`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** What says an archive's bytes are bad (not the disk it is extracted onto). */
const ARCHIVE_CODES = new Set([
  "bad_archive",
  "archive_missing_folder",
  "unsafe_archive_entry",
  "archive_too_large",
  "checksum_mismatch",
  "bad_size",
  "bad_label",
  "missing_file",
]);

function isHttp(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

function localPath(url: string): string {
  return url.startsWith("file:") ? fileURLToPath(url) : resolve(url);
}

/**
 * The archive in the cache, downloaded from `o.url` first when it is not there yet (`fresh`:
 * this call downloaded it). A failed download says what the cache folder holds instead, so a
 * wrong `cacheDir` or a damaged cache does not read as a network problem only.
 */
async function downloadedArchive(
  o: ResolvedLoadOptions,
): Promise<{ archive: string; fresh: boolean }> {
  await makeDirs(o.cacheDir);
  const archive = join(o.cacheDir, CIFAR10_ARCHIVE_NAME);
  if (await exists(archive)) return { archive, fresh: false };
  try {
    await download(o.url, archive, {
      retries: o.retries,
      retryDelayMs: o.retryDelayMs,
      stallTimeoutMs: o.stallTimeoutMs,
      md5: o.archiveMd5,
      progress:
        o.progress === true
          ? progressBar(CIFAR10_ARCHIVE_NAME, process.stderr)
          : o.progress === "lines"
            ? progressLines(CIFAR10_ARCHIVE_NAME, o.log)
            : silentProgress,
      offlineHint: OFFLINE_HINT,
      log: o.log,
    });
  } catch (error) {
    if (!(error instanceof Cifar10Error) || !DOWNLOAD_CODES.has(error.code)) throw error;
    const held = await cacheContents(o.cacheDir);
    if (held === null) throw error;
    throw new Cifar10Error(error.code, `${held}; ${error.message}`, { cause: error });
  }
  return { archive, fresh: true };
}

const DOWNLOAD_CODES = new Set(["network", "http_status", "download_incomplete"]);

/**
 * What the cache folder holds, when the dataset had to be downloaded into it: null when it is
 * empty (a first download), else a sentence saying it is not CIFAR-10 (a wrong folder given as
 * the cache, or a cache whose batch files are gone).
 */
async function cacheContents(cacheDir: string): Promise<string | null> {
  const entries = (await readdir(cacheDir).catch(() => [] as string[])).filter(
    (n) => !n.startsWith("."),
  );
  if (entries.length === 0) return null;
  const bin = entries.includes(BIN_FOLDER)
    ? `; its ${BIN_FOLDER}/ lacks data_batch_1.bin and test_batch.bin (holds ${(await readdir(join(cacheDir, BIN_FOLDER)).catch(() => [])).slice(0, 8).join(", ") || "nothing"})`
    : "";
  return `${cacheDir} holds no CIFAR-10 (expected ${BIN_FOLDER}/ with its batch files or ${CIFAR10_ARCHIVE_NAME}; found ${entries.slice(0, 8).join(", ")}${bin}), so it was to be downloaded there`;
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
 * Removes temp files and folders left in the cache by processes that died mid-download,
 * mid-extraction or mid-repair (their names carry the writer's pid); those of live processes are
 * left alone.
 */
async function removeStaleTemps(cacheDir: string): Promise<void> {
  for (const [dir, patterns] of [
    [cacheDir, [/^\.extract-(\d+)-/, /\.(\d+)\.\d+\.part$/]],
    [join(cacheDir, BIN_FOLDER), [REPAIR_TEMP]],
  ] as const) {
    const entries = await readdir(dir).catch(() => [] as string[]);
    for (const name of entries) {
      const m = patterns.map((p) => p.exec(name)).find((x) => x !== null);
      if (m && !alive(Number(m[1]))) await rm(join(dir, name), { recursive: true, force: true });
    }
  }
}

/** A verified copy of a batch file on its way into the cached folder: `.<name>.repair-<pid>-<hex>`. */
const REPAIR_TEMP = /^\..+\.repair-(\d+)-[0-9a-f]{8}$/;

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
  const found = await datasetIn(path);
  if (found.kind === "folder") return read(found.dir, found.format, o);
  return loadArchive(found.archive, o);
}

type Found =
  | { kind: "folder"; dir: string; format: FolderFormat }
  | { kind: "archive"; archive: string };

/** What a folder given as a path or mirror holds: a batch folder (itself or inside), or the archive. */
async function datasetIn(path: string): Promise<Found> {
  const format = await detectFormat(path);
  if (format) return { kind: "folder", dir: path, format };
  for (const [folder, f] of [
    [BIN_FOLDER, "bin"],
    [PY_FOLDER, "py"],
  ] as const) {
    if ((await detectFormat(join(path, folder))) === f) {
      return { kind: "folder", dir: join(path, folder), format: f };
    }
  }
  const entries = await readdir(path);
  if (entries.includes(CIFAR10_ARCHIVE_NAME)) {
    return { kind: "archive", archive: join(path, CIFAR10_ARCHIVE_NAME) };
  }
  throw new Cifar10Error(
    "no_dataset",
    `${path}: expected ${BIN_FOLDER}/, ${PY_FOLDER}/, their batch files or ${CIFAR10_ARCHIVE_NAME}, found ${entries.length ? entries.slice(0, 10).join(", ") : "an empty folder"}`,
  );
}

/**
 * Extracts `archive` into a temp folder of the cache, reads and verifies it, then (when
 * checksums are on) moves it into the cache, so a later call reads the folder directly. A cache
 * that already holds the folder is read instead, its damaged files repaired from `archive`.
 * Anything that fails leaves the cache as it was.
 */
async function loadArchive(archive: string, o: ResolvedLoadOptions): Promise<Cifar10> {
  // Only verified data is worth caching: with checksums, a cached copy that verifies is the
  // same data whichever archive it came from.
  const verifying = o.checksums !== false;
  const cached = join(o.cacheDir, BIN_FOLDER);
  if (verifying && (await detectFormat(cached)) === "bin") return readCache(o, archive);
  await makeDirs(o.cacheDir);
  const tmp = await extractionDir(o.cacheDir);
  try {
    const dir = await extractArchive(archive, tmp);
    const format: FolderFormat = basename(dir) === BIN_FOLDER ? "bin" : "py";
    const data = await read(dir, format, o);
    if (verifying) {
      const target = join(o.cacheDir, basename(dir));
      if (await exists(target)) {
        // A folder of that name without the batch files (the user's, or an emptied cache):
        // add the files it lacks, replacing none of its own.
        await installFiles(dir, target, await missingFrom(dir, target), o);
      } else {
        try {
          await rename(dir, target);
        } catch {
          // Another process put a copy there first; theirs is as good as ours.
        }
      }
    }
    return data;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

const UNWRITABLE: Record<string, string> = {
  EACCES: "permission denied: the folder is read-only for this user",
  EPERM: "operation not permitted: the folder is read-only",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
};

/** A fresh extraction folder in the cache, or an error saying the cache cannot be written. */
async function extractionDir(cacheDir: string): Promise<string> {
  try {
    return await mkdtemp(join(cacheDir, `.extract-${process.pid}-`));
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? "";
    const why = UNWRITABLE[code];
    if (!why) throw cause;
    throw new Cifar10Error(
      "cache_unwritable",
      `${cacheDir}: cannot extract CIFAR-10 into this cache folder: ${why} (${code}); give a writable cacheDir, or the archive itself as path`,
      { cause },
    );
  }
}

/** Names of the files of `from` that `to` lacks. */
async function missingFrom(from: string, to: string): Promise<string[]> {
  const have = new Set(await readdir(to));
  return (await readdir(from)).filter((name) => !have.has(name));
}

/**
 * Reads the cached `cifar-10-batches-bin/`. Damaged or missing batch files are reported, then
 * replaced by verified copies from the first source that has them (`archive`, the cached
 * archive, `o.url`), one file at a time; every other file stays as it is.
 */
async function readCache(o: ResolvedLoadOptions, archive: string | null): Promise<Cifar10> {
  const cached = join(o.cacheDir, BIN_FOLDER);
  try {
    return await read(cached, "bin", o);
  } catch (error) {
    if (!(error instanceof DamagedFolderError) || o.checksums === false) throw error;
    for (const p of error.problems) o.log(`CIFAR-10 cache ${o.cacheDir}: ${p.error.message}`);
    const failures: string[] = [];
    for (const source of await repairSources(o, archive)) {
      try {
        const from = await repairFrom(source, cached, error.files, o);
        const files = error.files.map((name) => `${BIN_FOLDER}/${name}`).join(", ");
        const copies = error.files.length === 1 ? "a verified copy" : "verified copies";
        o.log(`CIFAR-10 cache ${o.cacheDir}: replaced ${files} with ${copies} from ${from}`);
        return await read(cached, "bin", o);
      } catch (cause) {
        if (!(cause instanceof Error)) throw cause;
        failures.push(`from ${sourceName(source)}: ${cause.message}`);
      }
    }
    throw new Cifar10Error(
      error.code,
      `${error.message}; could not repair ${error.files.length === 1 ? "it" : "them"} ${failures.join("; ")}. ${OFFLINE_HINT}`,
      { cause: error },
    );
  }
}

type RepairSource = { kind: "archive"; path: string } | { kind: "url"; url: string };

function sourceName(source: RepairSource): string {
  return source.kind === "archive" ? source.path : source.url;
}

async function repairSources(
  o: ResolvedLoadOptions,
  archive: string | null,
): Promise<RepairSource[]> {
  const sources: RepairSource[] = [];
  const cachedArchive = join(o.cacheDir, CIFAR10_ARCHIVE_NAME);
  if (archive) sources.push({ kind: "archive", path: archive });
  const haveCachedArchive = await exists(cachedArchive);
  if (archive !== cachedArchive && haveCachedArchive) {
    sources.push({ kind: "archive", path: cachedArchive });
  }
  // An http(s) URL is downloaded into the cached archive: no second try when that is there.
  if (!isHttp(o.url) || !haveCachedArchive) sources.push({ kind: "url", url: o.url });
  return sources;
}

/** Puts verified copies of `names` from `source` into `cached`; returns where they came from. */
async function repairFrom(
  source: RepairSource,
  cached: string,
  names: readonly string[],
  o: ResolvedLoadOptions,
): Promise<string> {
  let path: string;
  if (source.kind === "archive") path = source.path;
  else if (isHttp(source.url)) path = (await downloadedArchive(o)).archive;
  else path = localPath(source.url);
  const found: Found = (await stat(path)).isFile()
    ? { kind: "archive", archive: path }
    : await datasetIn(path);
  if (found.kind === "folder") {
    if (found.format !== "bin") {
      throw new Cifar10Error(
        "no_dataset",
        `${found.dir}: holds the pickled version, not ${BIN_FOLDER}/`,
      );
    }
    await installFiles(found.dir, cached, names, o);
    return found.dir;
  }
  const tmp = await extractionDir(o.cacheDir);
  try {
    const dir = await extractArchive(found.archive, tmp);
    if (basename(dir) !== BIN_FOLDER) {
      throw new Cifar10Error(
        "archive_missing_folder",
        `${found.archive}: holds ${basename(dir)}/, expected ${BIN_FOLDER}/`,
      );
    }
    // Files the cache lacks besides the damaged ones (batches.meta.txt, …) come along; none of
    // the cache's own files is replaced unless it is one of `names`.
    const extra = (await missingFrom(dir, cached)).filter((n) => !names.includes(n));
    await installFiles(dir, cached, [...names, ...extra], o);
    return found.archive;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Copies `names` from `from` into `to` (created if needed), each verified against its MD5 first
 * and renamed into place, so `to` never holds half a file.
 */
async function installFiles(
  from: string,
  to: string,
  names: readonly string[],
  o: ResolvedLoadOptions,
): Promise<void> {
  const checksums = checksumsFor("bin", o);
  await makeDirs(to);
  for (const name of names) {
    const bytes = await readFile(join(from, name)).catch((cause) => {
      throw new Cifar10Error("missing_file", `${join(from, name)}: missing`, { cause });
    });
    const expected = checksums ? checksums[name] : undefined;
    const mismatch = expected ? checksumProblem(join(from, name), bytes, expected) : null;
    if (mismatch) throw mismatch;
    const tmp = join(to, `.${name}.repair-${process.pid}-${randomBytes(4).toString("hex")}`);
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, join(to, name));
    } catch (cause) {
      await rm(tmp, { force: true });
      throw cause;
    }
  }
}
