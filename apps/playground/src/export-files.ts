// The trained model as @cnnkit/export lays an export out (its writer needs Node's fs): the tfjs
// LayersModel (model.json + one weight shard), model.onnx (@cnnkit/export/onnx's writer, which
// runs in a page) and a manifest.json that says how to feed them and records each file's
// SHA-256, so `verifyExport` and `predict` accept the downloaded folder.
import type { Manifest } from "@cnnkit/export";
import { exportOnnxAsync } from "@cnnkit/export/onnx";
import * as tf from "@tensorflow/tfjs-core";
import { type LayersModel, version_layers } from "@tensorflow/tfjs-layers";
import { CLASS_NAMES, NORMALIZE } from "./run.js";

export interface ExportFile {
  name: string;
  bytes: Uint8Array;
}

/** The model's artifacts, captured in memory instead of saved somewhere. */
async function artifactsOf(model: LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  if (!captured) throw new Error("export: tfjs saved no model artifacts");
  return captured;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * `model.json`, `group1-shard1of1.bin`, `model.onnx` and `manifest.json` for `model`; `metrics`
 * are the run's figures (test accuracy, epochs, …). Reads the model with `await` only.
 */
export async function exportFiles(
  model: LayersModel,
  metrics: Record<string, number | string>,
): Promise<ExportFile[]> {
  const artifacts = await artifactsOf(model);
  const weights = new Uint8Array(
    tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0)),
  );
  const shard = "group1-shard1of1.bin";
  const modelJson: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as object,
    format: artifacts.format ?? "layers-model",
    generatedBy: artifacts.generatedBy ?? "",
    convertedBy: "@cnnkit/playground",
    weightsManifest: [{ paths: [shard], weights: artifacts.weightSpecs ?? [] }],
  };
  const json = new TextEncoder().encode(JSON.stringify(modelJson));
  const { mean, std } = NORMALIZE;
  // How to feed the model: in manifest.json, and in model.onnx's metadata for the file alone.
  const feeding: Pick<
    Manifest,
    "classNames" | "input" | "output" | "normalization" | "preprocessing"
  > = {
    classNames: CLASS_NAMES,
    input: { shape: [32, 32, 3], layout: "NHWC", dtype: "float32", channelOrder: "RGB" },
    output: { kind: "logits", classes: CLASS_NAMES.length },
    normalization: { mean: [...mean], std: [...std] },
    preprocessing: {
      resize: "resize-shorter-then-center-crop",
      filter: "area-bilinear",
      pixelScale: 255,
      steps: [
        "decode PNG/JPEG to 8-bit RGB (grey is repeated, alpha dropped)",
        "resize the shorter side to 32 keeping aspect ratio, then centre-crop 32×32 (area average when shrinking, bilinear when enlarging)",
        "divide by 255",
        `subtract mean [${mean.join(", ")}] and divide by std [${std.join(", ")}] per channel`,
        "lay out NHWC float32",
      ],
    },
  };
  const onnx = await exportOnnxAsync(model, {
    docString: `${model.name}: ${CLASS_NAMES.length}-class classifier trained in @cnnkit/playground`,
    metadata: Object.fromEntries(
      Object.entries(feeding).map(([key, value]) => [key, JSON.stringify(value)]),
    ),
  });
  const onnxBytes = new Uint8Array(onnx.bytes);
  const manifest: Manifest = {
    formatVersion: 1,
    createdAt: new Date().toISOString(),
    ...feeding,
    metrics,
    versions: {
      "@tensorflow/tfjs-core": tf.version_core,
      "@tensorflow/tfjs-layers": version_layers,
      backend: tf.getBackend(),
      browser: typeof navigator === "undefined" ? "none" : navigator.userAgent,
    },
    model: { name: model.name, parameters: model.countParams() },
    artifacts: [
      {
        name: "tfjs",
        format: "tfjs-layers",
        path: "model.json",
        bytes: json.length + weights.length,
        weights: "float32",
        sha256: { "model.json": await sha256(json), [shard]: await sha256(weights) },
      },
      {
        name: "onnx",
        format: "onnx",
        path: "model.onnx",
        bytes: onnxBytes.length,
        weights: "float32",
        onnx: { input: onnx.input, output: onnx.output, inputLayout: "NHWC", opset: onnx.opset },
        sha256: { "model.onnx": await sha256(onnxBytes) },
      },
    ],
  };
  return [
    { name: "model.json", bytes: json },
    { name: shard, bytes: weights },
    { name: "model.onnx", bytes: onnxBytes },
    {
      name: "manifest.json",
      bytes: new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`),
    },
  ];
}
