// The manifest.json that travels with every export: what the model expects as input and how to
// preprocess it, so inference can never silently use other normalisation stats than training.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ExportError } from "./errors.js";

/** The manifest format this version writes; readers refuse anything newer. */
export const MANIFEST_FORMAT_VERSION = 1;

/** The artifacts an export can hold. */
export type ArtifactName = "tfjs" | "tfjs-float16" | "tfjs-uint8" | "onnx";

/** One exported file set, as listed in the manifest. */
export interface ManifestArtifact {
  name: ArtifactName;
  /** `tfjs-layers` (model.json + shards) or `onnx`. */
  format: "tfjs-layers" | "onnx";
  /** Path of the entry file, relative to the export directory. */
  path: string;
  /** Total bytes on disk (model.json and shards, or the .onnx file). */
  bytes: number;
  /** Weight quantisation, `float32` when none. */
  weights: "float32" | "float16" | "uint8";
  /** For ONNX: the graph's input and output names and the input layout. */
  onnx?: { input: string; output: string; inputLayout: "NHWC"; opset: number };
  /** Top-1 accuracy on the evaluation samples given at export time, when some were. */
  accuracy?: number;
  /** `accuracy` minus the float32 model's accuracy on the same samples. */
  accuracyChange?: number;
  /** Share of evaluation samples whose top-1 class matches the float32 model's. */
  top1Agreement?: number;
  /**
   * SHA-256 (hex) of each file of the artifact, by path relative to the export directory
   * (model.json and its shards, or the .onnx file); checked before the artifact is loaded.
   * Absent in exports written before @cnnkit/export recorded digests.
   */
  sha256?: Record<string, string>;
}

/** How an image becomes the model's input tensor. */
export interface Preprocessing {
  /** How a picture of another size is brought to `size`: `resize-shorter-then-center-crop` keeps aspect ratio; `stretch` does not. */
  resize: "resize-shorter-then-center-crop" | "stretch";
  /** Resampling filter: area averaging when shrinking, bilinear when enlarging. */
  filter: "area-bilinear";
  /** Pixel values are divided by this before normalisation (255 for [0,1] pixels). */
  pixelScale: number;
  /** The steps in order, for people. */
  steps: string[];
}

export interface Manifest {
  formatVersion: number;
  createdAt: string;
  /** Class names, index = logit index. */
  classNames: string[];
  input: {
    /** Shape of one input, without the batch dimension: `[height, width, channels]`. */
    shape: [number, number, number];
    layout: "NHWC";
    dtype: "float32";
    channelOrder: "RGB";
  };
  output: { kind: "logits"; classes: number };
  /** Per-channel statistics on the `pixelScale`d [0,1] pixels: `x = (pixel / pixelScale - mean) / std`. */
  normalization: { mean: number[]; std: number[] };
  preprocessing: Preprocessing;
  /** Training metrics as reported by the trainer (final accuracy, loss, epochs, …). */
  metrics: Record<string, number | string>;
  /** Versions of cnnkit packages, tfjs and Node that made this export. */
  versions: Record<string, string>;
  /** Parameter count and model name, for the reader. */
  model: { name: string; parameters: number };
  artifacts: ManifestArtifact[];
}

function fail(file: string, what: string): never {
  throw new ExportError("invalid_manifest", `${file}: ${what}`);
}

function isNumberArray(v: unknown, length: number): v is number[] {
  return (
    Array.isArray(v) &&
    v.length === length &&
    v.every((x) => typeof x === "number" && Number.isFinite(x))
  );
}

/** Checks a parsed manifest; `file` names it in errors. */
export function validateManifest(value: unknown, file: string): Manifest {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(file, `expected a JSON object, got ${Array.isArray(value) ? "an array" : typeof value}`);
  }
  const m = value as Partial<Manifest>;
  if (typeof m.formatVersion !== "number" || !Number.isInteger(m.formatVersion)) {
    fail(file, `expected an integer formatVersion, got ${JSON.stringify(m.formatVersion)}`);
  }
  if (m.formatVersion > MANIFEST_FORMAT_VERSION) {
    throw new ExportError(
      "manifest_too_new",
      `${file}: formatVersion ${m.formatVersion} is newer than this @cnnkit/export reads (up to ${MANIFEST_FORMAT_VERSION}); upgrade @cnnkit/export`,
    );
  }
  if (
    !Array.isArray(m.classNames) ||
    m.classNames.length === 0 ||
    !m.classNames.every((c) => typeof c === "string")
  ) {
    fail(file, "expected classNames to be a non-empty array of strings");
  }
  const shape = m.input?.shape;
  if (!isNumberArray(shape, 3) || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    fail(file, `expected input.shape [height, width, channels], got ${JSON.stringify(shape)}`);
  }
  if (m.input?.layout !== "NHWC")
    fail(file, `expected input.layout "NHWC", got ${JSON.stringify(m.input?.layout)}`);
  const channels = shape[2];
  if (
    !isNumberArray(m.normalization?.mean, channels) ||
    !isNumberArray(m.normalization?.std, channels)
  ) {
    fail(file, `expected normalization.mean and .std with ${channels} numbers each`);
  }
  if (!m.normalization.std.every((s) => s > 0)) fail(file, "expected every normalization.std > 0");
  if (!Array.isArray(m.artifacts) || m.artifacts.length === 0)
    fail(file, "expected a non-empty artifacts list");
  for (const a of m.artifacts) {
    if (typeof a?.path !== "string" || typeof a.name !== "string")
      fail(file, "expected each artifact to have a name and a path");
    if (a.sha256 !== undefined) {
      const digests = a.sha256 as unknown;
      if (
        typeof digests !== "object" ||
        digests === null ||
        Array.isArray(digests) ||
        !Object.values(digests).every((d) => typeof d === "string" && /^[0-9a-f]{64}$/.test(d))
      ) {
        fail(file, `expected artifact "${a.name}" sha256 to map file paths to SHA-256 hex digests`);
      }
    }
  }
  return m as Manifest;
}

/** Reads and checks `dir/manifest.json`. */
export async function readManifest(dir: string): Promise<Manifest> {
  const file = join(dir, "manifest.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    throw new ExportError(
      "missing_file",
      `${file}: cannot read the export manifest (${(cause as Error).message})`,
      {
        cause,
      },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new ExportError(
      "invalid_manifest",
      `${file}: expected JSON, got a parse error (${(cause as Error).message})`,
      {
        cause,
      },
    );
  }
  return validateManifest(parsed, file);
}

/** The manifest entry named `name`, or a clear error listing what the export holds. */
export function findArtifact(
  manifest: Manifest,
  name: ArtifactName,
  dir: string,
): ManifestArtifact {
  const found = manifest.artifacts.find((a) => a.name === name);
  if (!found) {
    throw new ExportError(
      "missing_artifact",
      `${join(dir, "manifest.json")}: expected an artifact "${name}", the export holds ${manifest.artifacts.map((a) => `"${a.name}"`).join(", ")}`,
    );
  }
  return found;
}
