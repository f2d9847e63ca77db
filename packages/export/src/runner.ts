// Runs one exported artifact on a batch of preprocessed NHWC inputs: tfjs artifacts through
// tf.loadLayersModel on the current backend, ONNX through onnxruntime-node (an optional peer).
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { loadLayersModel } from "@tensorflow/tfjs-layers";
import { verifyArtifactFiles } from "./digests.js";
import { ExportError } from "./errors.js";
import { loadArtifacts } from "./file-io.js";
import type { Manifest, ManifestArtifact } from "./manifest.js";

/** Logits for `count` inputs laid out NHWC in one Float32Array. */
export interface Runner {
  run(inputs: Float32Array, count: number): Promise<Float32Array>;
  dispose(): void | Promise<void>;
}

/** Batches keep peak memory flat whatever the number of images. */
const BATCH = 32;

/** Loads a tfjs LayersModel saved by `exportModel` (or any model.json on disk). */
export async function loadModelFromDir(modelJsonPath: string) {
  return loadLayersModel({ load: () => loadArtifacts(modelJsonPath) });
}

/** Runs a LayersModel in batches, leaving no tensors behind. */
export function layersRunner(
  model: { predict(x: tf.Tensor): tf.Tensor | tf.Tensor[]; dispose?(): unknown },
  inputShape: number[],
  owned: boolean,
): Runner {
  return {
    async run(inputs, count) {
      const per = inputShape.reduce((a, b) => a * b, 1);
      const chunks: Float32Array[] = [];
      for (let start = 0; start < count; start += BATCH) {
        const n = Math.min(BATCH, count - start);
        const logits = tf.tidy(() => {
          const x = tf.tensor(
            inputs.subarray(start * per, (start + n) * per),
            [n, ...inputShape],
            "float32",
          );
          const y = model.predict(x);
          return (Array.isArray(y) ? y[0] : y) as tf.Tensor;
        });
        chunks.push((await logits.data()) as Float32Array);
        logits.dispose();
      }
      const total = chunks.reduce((a, c) => a + c.length, 0);
      const out = new Float32Array(total);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    },
    dispose() {
      if (owned) model.dispose?.();
    },
  };
}

/** An `onnxruntime-node` session, as far as this package uses it. */
export interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(
    feeds: Record<string, unknown>,
  ): Promise<Record<string, { data: unknown; dims: readonly number[] }>>;
  release(): Promise<void>;
}

/** The part of `onnxruntime-node` this package uses. */
export interface OrtModule {
  InferenceSession: {
    create(model: string | Uint8Array, options?: Record<string, unknown>): Promise<OrtSession>;
  };
  Tensor: new (type: "float32", data: Float32Array, dims: number[]) => unknown;
}

/** onnxruntime-node, or a one-line error saying how to get it. */
export async function importOnnxRuntime(): Promise<OrtModule> {
  try {
    const mod = (await import("onnxruntime-node")) as unknown as OrtModule & {
      default?: OrtModule;
    };
    return mod.InferenceSession ? mod : (mod.default as OrtModule);
  } catch (cause) {
    throw new ExportError(
      "onnxruntime_missing",
      `running an ONNX artifact needs the optional peer onnxruntime-node, which did not load (${(cause as Error).message.split("\n")[0]}); install it with \`pnpm add onnxruntime-node\``,
      { cause },
    );
  }
}

/**
 * Opens one artifact of an export directory for inference, after checking its files against the
 * SHA-256 digests of the manifest.
 */
export async function openArtifact(
  dir: string,
  manifest: Manifest,
  artifact: ManifestArtifact,
): Promise<Runner> {
  await verifyArtifactFiles(dir, manifest, artifact);
  const inputShape = manifest.input.shape;
  const path = join(dir, artifact.path);
  if (artifact.format === "tfjs-layers") {
    const model = await loadModelFromDir(path);
    return layersRunner(model, inputShape, true);
  }
  if (artifact.format === "onnx") {
    const ort = await importOnnxRuntime();
    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(path);
    } catch (cause) {
      throw new ExportError(
        "corrupt_onnx",
        `${path}: onnxruntime could not load the model (${(cause as Error).message})`,
        { cause },
      );
    }
    const input = artifact.onnx?.input ?? session.inputNames[0] ?? "input";
    const output = artifact.onnx?.output ?? session.outputNames[0] ?? "logits";
    return {
      async run(inputs, count) {
        const feeds = {
          [input]: new ort.Tensor(
            "float32",
            inputs.subarray(0, count * inputShape.reduce((a, b) => a * b, 1)),
            [count, ...inputShape],
          ),
        };
        const result = await session.run(feeds);
        const y = result[output];
        if (!y)
          throw new ExportError(
            "corrupt_onnx",
            `${path}: expected an output "${output}", got ${Object.keys(result).join(", ")}`,
          );
        return Float32Array.from(y.data as Float32Array);
      },
      dispose: () => session.release(),
    };
  }
  throw new ExportError(
    "unknown_artifact",
    `${join(dir, "manifest.json")}: artifact "${artifact.name}" has an unknown format ${JSON.stringify(artifact.format)}`,
  );
}
