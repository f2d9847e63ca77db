// SHA-256 digests of an export's files, recorded in manifest.json when the export is written and
// checked before any artifact is loaded, so weights altered or damaged on disk (same size or
// not) are refused, naming the file, instead of predicting or evaluating as if nothing happened.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { ExportError } from "./errors.js";
import type { ArtifactName, Manifest, ManifestArtifact } from "./manifest.js";

/** The SHA-256 of `bytes`, as lowercase hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * The files one artifact is made of, relative to the export directory: the `.onnx` file, or a
 * `model.json` and the shards it lists.
 */
export async function artifactFiles(dir: string, artifact: ManifestArtifact): Promise<string[]> {
  if (artifact.format !== "tfjs-layers") return [artifact.path];
  const base = posix.dirname(artifact.path);
  const json = JSON.parse(await readFile(join(dir, artifact.path), "utf8")) as {
    weightsManifest: { paths: string[] }[];
  };
  const shards = json.weightsManifest.flatMap((g) => g.paths);
  return [artifact.path, ...shards.map((p) => (base === "." ? p : `${base}/${p}`))];
}

/** `{ file: sha256 }` of each file of `artifact` in `dir`, for its manifest entry. */
export async function digestArtifact(
  dir: string,
  artifact: ManifestArtifact,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const file of await artifactFiles(dir, artifact)) {
    out[file] = sha256Hex(await readFile(join(dir, file)));
  }
  return out;
}

/**
 * Checks every file of one artifact of the export in `dir` against the SHA-256 its manifest
 * records, before the artifact is loaded. Throws `ExportError` `digest_mismatch` naming the file
 * (altered or damaged since the export was written), or `missing_file`. An export written
 * before digests were recorded has none to check: returns `false` then, `true` once verified.
 */
export async function verifyArtifactFiles(
  dir: string,
  manifest: Manifest,
  name: ArtifactName | ManifestArtifact,
): Promise<boolean> {
  const artifact =
    typeof name === "string" ? manifest.artifacts.find((a) => a.name === name) : name;
  if (!artifact) {
    throw new ExportError(
      "missing_artifact",
      `${join(dir, "manifest.json")}: expected an artifact "${String(name)}", the export holds ${manifest.artifacts.map((a) => `"${a.name}"`).join(", ")}`,
    );
  }
  if (!artifact.sha256) return false;
  for (const [file, expected] of Object.entries(artifact.sha256)) {
    const path = join(dir, file);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      throw new ExportError(
        "missing_file",
        `${path}: listed in manifest.json but cannot be read (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`,
        { cause },
      );
    }
    const got = sha256Hex(bytes);
    if (got !== expected) {
      throw new ExportError(
        "digest_mismatch",
        `${path}: SHA-256 ${got} differs from the ${expected} recorded in manifest.json: the file was altered or damaged after the export was written; export the model again`,
      );
    }
  }
  return true;
}
