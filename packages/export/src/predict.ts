// predict: classify image files (or decoded pictures) with an export, preprocessing each one
// exactly as its manifest says.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { ExportError } from "./errors.js";
import { decodeImage, preprocessImage, type RgbImage } from "./image.js";
import { type ArtifactName, findArtifact, readManifest } from "./manifest.js";
import { openArtifact } from "./runner.js";
import { type TTALevel, ttaLogitsAsync } from "./test-time-augmentation.js";

/** A file path, the encoded bytes of a PNG/JPEG, or an already decoded picture. */
export type PredictInput = string | Uint8Array | RgbImage;

export interface PredictOptions {
  /** How many classes to report per image. Defaults to `5` (or the class count, when smaller). */
  topK?: number;
  /** Which exported artifact runs the model. Defaults to `"tfjs"` (float32). */
  artifact?: ArtifactName;
  /**
   * Test-time augmentation: average the logits over mirrored and shifted views of each image
   * ({@link TTALevel}). Use the level the run was evaluated with to reproduce its accuracy.
   * Defaults to `0` (the image alone).
   */
  tta?: TTALevel;
}

export interface ClassScore {
  classIndex: number;
  className: string;
  probability: number;
}

export interface Prediction {
  /** The file path, or `images[i]` for in-memory inputs. */
  source: string;
  /** The `topK` most probable classes, most probable first. */
  top: ClassScore[];
  /** Raw logits, one per class. */
  logits: Float32Array;
}

/** Softmax in float64, shifted by the max so large logits cannot overflow. */
function softmax(logits: Float32Array): number[] {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (l) => Math.exp(l - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/**
 * Classifies each image with the export in `dir`: decode, resize/crop and normalise as the
 * manifest says, run the chosen artifact (tfjs artifacts on the current tfjs backend), and rank
 * classes by softmax probability.
 */
export async function predict(
  dir: string,
  images: readonly PredictInput[],
  options: PredictOptions = {},
): Promise<Prediction[]> {
  const root = resolve(dir);
  const manifest = await readManifest(root);
  const classes = manifest.classNames.length;
  const topK = options.topK ?? Math.min(5, classes);
  if (!Number.isInteger(topK) || topK < 1 || topK > classes) {
    throw new ExportError(
      "invalid_option",
      `predict topK: expected an integer from 1 to ${classes}, got ${topK}`,
    );
  }
  const artifact = findArtifact(manifest, options.artifact ?? "tfjs", root);
  const per = manifest.input.shape.reduce((a, b) => a * b, 1);
  const inputs = new Float32Array(images.length * per);
  const sources: string[] = [];
  for (const [i, image] of images.entries()) {
    let source = `images[${i}]`;
    let picture: RgbImage;
    if (typeof image === "string") {
      source = image;
      let bytes: Buffer;
      try {
        bytes = await readFile(image);
      } catch (cause) {
        throw new ExportError(
          "missing_file",
          `${image}: cannot read the image (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`,
          { cause },
        );
      }
      picture = decodeImage(bytes, image);
    } else if (image instanceof Uint8Array) {
      picture = decodeImage(image, source);
    } else {
      const ch = image.channels ?? 3;
      if (image.data.length !== image.width * image.height * ch) {
        throw new ExportError(
          "bad_image",
          `${source}: expected ${image.width}×${image.height}×${ch} = ${image.width * image.height * ch} bytes, got ${image.data.length}`,
        );
      }
      picture = image;
    }
    inputs.set(preprocessImage(picture, manifest), i * per);
    sources.push(source);
  }
  if (images.length === 0) return [];
  const runner = await openArtifact(root, manifest, artifact);
  let logits: Float32Array;
  try {
    const [h, w, c] = manifest.input.shape as [number, number, number];
    logits = await ttaLogitsAsync(
      (x, n) => runner.run(x, n),
      inputs,
      [images.length, h, w, c],
      options.tta ?? 0,
    );
  } finally {
    await runner.dispose();
  }
  return sources.map((source, i) => {
    const own = logits.slice(i * classes, (i + 1) * classes);
    const probs = softmax(own);
    const top = probs
      .map((probability, classIndex) => ({
        classIndex,
        className: manifest.classNames[classIndex] as string,
        probability,
      }))
      .sort((a, b) => b.probability - a.probability || a.classIndex - b.classIndex)
      .slice(0, topK);
    return { source, top, logits: own };
  });
}
