// What an export directory may hold, so that replacing one never deletes a file @cnnkit/export
// did not write, and the temporaries a killed export leaves beside its target get cleaned up.
import type { Dirent } from "node:fs";
import { readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join, posix, resolve } from "node:path";
import { ExportError } from "./errors.js";

/**
 * Files a caller writes into an export after `exportModel` (the trainer's verification report),
 * which a later export may replace along with the rest. Defaults of `ExportInfo.companionFiles`.
 */
export const DEFAULT_COMPANION_FILES: readonly string[] = Object.freeze([
  "verification.json",
  "verification.txt",
]);

/** The weight shard names `saveArtifacts` writes: `group1-shard1of1.bin`, `model-group1-…`. */
const SHARD = /^(?:[\w.-]+-)?group1-shard\d+of\d+\.bin$/;

async function entries(dir: string): Promise<Dirent[] | null> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** Every file (and link, and other non-directory) under `dir`, as `/`-separated relative paths. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await entries(dir)) ?? []) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out;
}

/** The files an export's manifest accounts for, or null when `dir` has no readable manifest. */
async function ownedFiles(dir: string, companions: readonly string[]): Promise<Set<string> | null> {
  let manifest: { artifacts?: unknown };
  try {
    manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
  } catch {
    return null;
  }
  if (typeof manifest !== "object" || manifest === null || !Array.isArray(manifest.artifacts)) {
    return null;
  }
  const owned = new Set<string>(["manifest.json", ...companions]);
  for (const artifact of manifest.artifacts as { path?: unknown; format?: unknown }[]) {
    if (typeof artifact?.path !== "string") continue;
    const path = posix.normalize(artifact.path);
    if (path.startsWith("..") || posix.isAbsolute(path)) continue;
    owned.add(path);
    if (artifact.format !== "tfjs-layers") continue;
    const base = posix.dirname(path);
    const at = (name: string) => (base === "." ? name : `${base}/${name}`);
    // The shards its model.json lists; when that file is unreadable, the names saveArtifacts gives.
    try {
      const json = JSON.parse(await readFile(join(dir, path), "utf8")) as {
        weightsManifest?: { paths?: unknown[] }[];
      };
      for (const group of json.weightsManifest ?? []) {
        for (const p of group.paths ?? []) if (typeof p === "string") owned.add(at(p));
      }
    } catch {
      for (const e of (await entries(join(dir, base))) ?? []) {
        if (e.isFile() && SHARD.test(e.name)) owned.add(at(e.name));
      }
    }
  }
  return owned;
}

/**
 * Why replacing `dir` would delete something @cnnkit/export did not write, or null when it may be
 * replaced: it does not exist, is empty, or holds an export (a `manifest.json` of this package)
 * and only the files that manifest lists plus `companions`.
 */
export async function exportReplaceProblem(
  dir: string,
  companions: readonly string[] = DEFAULT_COMPANION_FILES,
): Promise<string | null> {
  const files = await listFiles(dir);
  if (files.length === 0) return null;
  const owned = await ownedFiles(dir, companions);
  const foreign = owned ? files.filter((f) => !owned.has(f)) : files;
  if (foreign.length === 0) return null;
  const shown =
    foreign.slice(0, 5).join(", ") + (foreign.length > 5 ? `, … (${foreign.length})` : "");
  return owned
    ? `it holds ${shown}, which its manifest.json does not list (not written by @cnnkit/export)`
    : `it is not an export written by @cnnkit/export (no manifest.json listing its files) and holds ${shown}`;
}

/**
 * Throws `exists` unless `dir` may be replaced by a new export without losing anything
 * @cnnkit/export did not write (see {@link exportReplaceProblem}). Callers that will export at
 * the end of a long job check this first, so they refuse before the work rather than after.
 */
export async function assertExportReplaceable(
  dir: string,
  options: { companionFiles?: readonly string[] } = {},
): Promise<void> {
  const target = resolve(dir);
  const problem = await exportReplaceProblem(target, options.companionFiles);
  if (problem) throw replaceRefused(target, problem);
}

/** The `exists` error for a folder that cannot be replaced because of `problem`. */
export function replaceRefused(target: string, problem: string): ExportError {
  return new ExportError(
    "exists",
    `${target}: will not replace this folder with an export: ${problem}. Move those files away or export elsewhere; nothing was changed`,
  );
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** `.<name>.partial-<pid>-<hex>` (being written) and `.<name>.old-<pid>-<hex>` (being replaced). */
export function exportTempName(target: string, kind: "partial" | "old", suffix: string): string {
  return join(dirname(target), `.${basename(target)}.${kind}-${process.pid}-${suffix}`);
}

/**
 * Cleans up after exports to `dir` that were killed part-way, on this machine: a `.partial-` folder
 * of a dead process is removed; an `.old-` folder (a previous export being replaced) is put back
 * when `dir` is missing, removed when `dir` is there and it holds only an export's own files, and
 * else left alone. Temporaries of live processes are never touched.
 */
export async function removeStaleExportTemps(dir: string): Promise<string[]> {
  const target = resolve(dir);
  const name = basename(target);
  const parent = dirname(target);
  const cleaned: string[] = [];
  for (const e of (await entries(parent)) ?? []) {
    if (!e.name.startsWith(`.${name}.`)) continue;
    const m = /^\.(partial|old)-(\d+)-[0-9a-f]{8}$/.exec(e.name.slice(name.length + 1));
    if (!m || !e.isDirectory() || alive(Number(m[2]))) continue;
    const path = join(parent, e.name);
    if (m[1] === "partial") {
      await rm(path, { recursive: true, force: true });
      cleaned.push(path);
    } else if ((await entries(target)) === null) {
      await rename(path, target);
      cleaned.push(path);
    } else if ((await exportReplaceProblem(path)) === null) {
      await rm(path, { recursive: true, force: true });
      cleaned.push(path);
    }
  }
  return cleaned;
}
