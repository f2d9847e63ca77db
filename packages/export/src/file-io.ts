// tfjs LayersModel format (model.json + weight shards) on Node's file system, so saving and
// loading need neither tfjs-node nor fetch; every load failure names the file at fault.
import { readFile, stat, writeFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, normalize } from "node:path";
import type { io } from "@tensorflow/tfjs-core";
import { ExportError } from "./errors.js";

/** tfjs's browser default: shards small enough for HTTP caches, still few files. */
const SHARD_BYTES = 4 * 1024 * 1024;

const BYTES_PER_VALUE: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/** Bytes one weight takes in a shard, quantisation included. */
export function specBytes(spec: io.WeightsManifestEntry): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const per = BYTES_PER_VALUE[dtype];
  if (per === undefined)
    throw new ExportError("unsupported_weight", `weight ${spec.name}: unsupported dtype ${dtype}`);
  return spec.shape.reduce((a, b) => a * b, 1) * per;
}

/** The weight bytes of a ModelArtifacts as one buffer (tfjs may hand several). */
export function weightBytes(artifacts: io.ModelArtifacts): Uint8Array {
  const data = artifacts.weightData;
  if (data === undefined) return new Uint8Array(0);
  const parts = Array.isArray(data) ? data : [data];
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), offset);
    offset += p.byteLength;
  }
  return out;
}

/**
 * Writes `model.json` (named `jsonName`) and its shards into `dir`, which must exist.
 * Returns the bytes written.
 */
export async function saveArtifacts(
  dir: string,
  artifacts: io.ModelArtifacts,
  jsonName = "model.json",
): Promise<number> {
  const bytes = weightBytes(artifacts);
  const count = Math.max(1, Math.ceil(bytes.byteLength / SHARD_BYTES));
  const stem = jsonName.replace(/\.json$/, "");
  const prefix = stem === "model" ? "group1" : `${stem}-group1`;
  const paths: string[] = [];
  let written = 0;
  for (let i = 0; i < count; i++) {
    const path = `${prefix}-shard${i + 1}of${count}.bin`;
    const shard = bytes.subarray(
      i * SHARD_BYTES,
      Math.min(bytes.byteLength, (i + 1) * SHARD_BYTES),
    );
    await writeFile(join(dir, path), shard);
    paths.push(path);
    written += shard.byteLength;
  }
  const modelJson: io.ModelJSON = {
    modelTopology: artifacts.modelTopology as object,
    format: artifacts.format ?? "layers-model",
    generatedBy: artifacts.generatedBy ?? "",
    convertedBy: "@cnnkit/export",
    weightsManifest: [{ paths, weights: artifacts.weightSpecs ?? [] }],
  };
  if (artifacts.trainingConfig) modelJson.trainingConfig = artifacts.trainingConfig;
  const text = JSON.stringify(modelJson);
  await writeFile(join(dir, jsonName), text);
  return written + Buffer.byteLength(text);
}

/** Reads a model.json and its shards, checking every shard exists and has the size its specs need. */
export async function loadArtifacts(modelJsonPath: string): Promise<io.ModelArtifacts> {
  let text: string;
  try {
    text = await readFile(modelJsonPath, "utf8");
  } catch (cause) {
    throw new ExportError(
      "missing_file",
      `${modelJsonPath}: cannot read the model (${(cause as Error).message})`,
      {
        cause,
      },
    );
  }
  let json: io.ModelJSON;
  try {
    json = JSON.parse(text) as io.ModelJSON;
  } catch (cause) {
    throw new ExportError(
      "corrupt_model_json",
      `${modelJsonPath}: expected tfjs model JSON, got a parse error (${(cause as Error).message})`,
      { cause },
    );
  }
  if (
    typeof json !== "object" ||
    json === null ||
    typeof json.modelTopology !== "object" ||
    !Array.isArray(json.weightsManifest)
  ) {
    throw new ExportError(
      "corrupt_model_json",
      `${modelJsonPath}: expected an object with modelTopology and weightsManifest, got ${text.slice(0, 80)}…`,
    );
  }
  const dir = dirname(modelJsonPath);
  const specs: io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    const expected = group.weights.reduce((n, s) => n + specBytes(s), 0);
    const files: { path: string; bytes: number }[] = [];
    for (const rel of group.paths) {
      // A model.json from elsewhere must not make us read outside its directory.
      if (isAbsolute(rel) || normalize(rel).startsWith("..")) {
        throw new ExportError(
          "corrupt_model_json",
          `${modelJsonPath}: weight path ${JSON.stringify(rel)} leaves the model directory`,
        );
      }
      const path = join(dir, rel);
      let data: Buffer;
      try {
        data = await readFile(path);
      } catch (cause) {
        throw new ExportError(
          "missing_shard",
          `${path}: weight shard listed in ${basename(modelJsonPath)} is missing (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`,
          { cause },
        );
      }
      files.push({ path, bytes: data.byteLength });
      buffers.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    const got = files.reduce((n, f) => n + f.bytes, 0);
    if (got !== expected) {
      const which =
        files.length === 1
          ? files[0]?.path
          : files.map((f) => `${f.path} (${f.bytes} bytes)`).join(", ");
      throw new ExportError(
        "shard_size",
        `${which}: expected ${expected} bytes of weights for ${group.weights.length} tensors in ${basename(modelJsonPath)}, got ${got} (truncated or from another model?)`,
      );
    }
    specs.push(...group.weights);
  }
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    weightData.set(b, offset);
    offset += b.byteLength;
  }
  const artifacts: io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    weightSpecs: specs,
    weightData: weightData.buffer,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
  };
  if (json.trainingConfig) artifacts.trainingConfig = json.trainingConfig;
  return artifacts;
}

/** Total bytes of a model.json and the shards it lists. */
export async function artifactBytes(modelJsonPath: string): Promise<number> {
  const json = JSON.parse(await readFile(modelJsonPath, "utf8")) as io.ModelJSON;
  let total = (await stat(modelJsonPath)).size;
  for (const group of json.weightsManifest) {
    for (const p of group.paths) total += (await stat(join(dirname(modelJsonPath), p))).size;
  }
  return total;
}
