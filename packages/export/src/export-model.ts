// exportModel: one directory holding the tfjs model, its quantised variants, an ONNX copy and
// the manifest that says how to feed them, written atomically.
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { makeDirs } from "@cnnkit/make-dirs";
import * as tf from "@tensorflow/tfjs-core";
import { io } from "@tensorflow/tfjs-core";
import { type LayersModel, loadLayersModel, version_layers } from "@tensorflow/tfjs-layers";
import pkg from "../package.json" with { type: "json" };
import { digestArtifact } from "./digests.js";
import { ExportError } from "./errors.js";
import {
  assertExportReplaceable,
  DEFAULT_COMPANION_FILES,
  exportReplaceProblem,
  exportTempName,
  removeStaleExportTemps,
  replaceRefused,
} from "./export-dir.js";
import { saveArtifacts } from "./file-io.js";
import { normalizePixels } from "./image.js";
import {
  MANIFEST_FORMAT_VERSION,
  type Manifest,
  type ManifestArtifact,
  type Preprocessing,
} from "./manifest.js";
import { type QuantizationDtype, quantizeArtifacts } from "./quantize.js";
import { layersRunner } from "./runner.js";

/** Labelled images used to measure what quantisation costs in accuracy. */
export interface EvaluationSamples {
  /** N×H×W×C uint8 pixels, NHWC RGB, of the model's input size (as `Cifar10Split.images`). */
  images: Uint8Array;
  /** N class indices. */
  labels: ArrayLike<number>;
}

/** What the export must carry besides the weights; `exportModel`'s options. */
export interface ExportInfo {
  /** Class names, index = logit index; their count must equal the model's outputs. Required. */
  classNames: readonly string[];
  /** Per-channel mean and std on [0,1] pixels used in training (e.g. `CIFAR10_MEAN`/`CIFAR10_STD`). Required. */
  normalization: { mean: readonly number[]; std: readonly number[] };
  /** Final training metrics to record (accuracy, loss, epochs, …). Defaults to `{}`. */
  metrics?: Record<string, number | string>;
  /** How predict brings pictures of other sizes to the input size. Defaults to `"resize-shorter-then-center-crop"`. */
  resize?: Preprocessing["resize"];
  /** Divisor taking raw pixels to [0,1]. Defaults to `255`. */
  pixelScale?: number;
  /** Quantised tfjs variants to write besides float32. Defaults to `["float16", "uint8"]`. */
  quantize?: QuantizationDtype[];
  /** The uint8 variant keeps tensors of fewer values in float32 (see `quantizeArtifacts`). Defaults to `1024`. */
  uint8MinElements?: number;
  /** Also write `model.onnx`. Defaults to `true`. */
  onnx?: boolean;
  /** Labelled images to measure each quantised variant's accuracy change on. Defaults to none (no accuracy recorded). */
  evaluation?: EvaluationSamples;
  /** Extra versions to record (other cnnkit packages, the trainer's git commit…). Defaults to `{}`. */
  versions?: Record<string, string>;
  /**
   * Replace an existing export at `dir`. Only an export this package wrote is replaced: a folder
   * holding any file its manifest does not list (other than `companionFiles`) is refused with
   * `exists`, untouched. Defaults to `false` (an existing directory is an error).
   */
  overwrite?: boolean;
  /**
   * Files the caller writes into the export afterwards (a verification report), which replacing
   * the export may delete with it. Defaults to `["verification.json", "verification.txt"]`.
   */
  companionFiles?: readonly string[];
}

interface ResolvedExportInfo {
  classNames: string[];
  mean: number[];
  std: number[];
  metrics: Record<string, number | string>;
  resize: Preprocessing["resize"];
  pixelScale: number;
  quantize: QuantizationDtype[];
  uint8MinElements: number;
  onnx: boolean;
  evaluation: EvaluationSamples | undefined;
  versions: Record<string, string>;
  overwrite: boolean;
  companionFiles: readonly string[];
}

export interface ExportResult {
  /** Absolute path of the export directory. */
  dir: string;
  manifest: Manifest;
}

function invalid(option: string, expected: string, got: unknown): never {
  throw new ExportError(
    "invalid_option",
    `exportModel info.${option}: expected ${expected}, got ${JSON.stringify(got)}`,
  );
}

function resolveExportInfo(
  info: ExportInfo,
  inputShape: number[],
  classes: number,
): ResolvedExportInfo {
  const channels = inputShape[2] as number;
  if (
    !Array.isArray(info?.classNames) ||
    info.classNames.length !== classes ||
    !info.classNames.every((c) => typeof c === "string")
  ) {
    invalid("classNames", `${classes} strings (one per model output)`, info?.classNames);
  }
  const { mean, std } = info.normalization ?? {};
  if (!Array.isArray(mean) || mean.length !== channels || !mean.every(Number.isFinite))
    invalid("normalization.mean", `${channels} finite numbers`, mean);
  if (
    !Array.isArray(std) ||
    std.length !== channels ||
    !std.every((s) => Number.isFinite(s) && s > 0)
  )
    invalid("normalization.std", `${channels} positive numbers`, std);
  const quantize = info.quantize ?? ["float16", "uint8"];
  if (!quantize.every((q) => q === "float16" || q === "uint8"))
    invalid("quantize", 'a list of "float16" and "uint8"', quantize);
  const pixelScale = info.pixelScale ?? 255;
  if (!(pixelScale > 0)) invalid("pixelScale", "a positive number", pixelScale);
  const resize = info.resize ?? "resize-shorter-then-center-crop";
  if (resize !== "resize-shorter-then-center-crop" && resize !== "stretch")
    invalid("resize", '"resize-shorter-then-center-crop" or "stretch"', resize);
  if (info.evaluation) {
    const per = inputShape.reduce((a, b) => a * b, 1);
    const n = info.evaluation.labels.length;
    if (info.evaluation.images.length !== n * per)
      invalid(
        "evaluation.images",
        `${n} labels × ${per} bytes = ${n * per} bytes`,
        `${info.evaluation.images.length} bytes`,
      );
  }
  return {
    classNames: [...info.classNames],
    mean: [...mean],
    std: [...std],
    metrics: { ...(info.metrics ?? {}) },
    resize,
    pixelScale,
    quantize: [...new Set(quantize)],
    uint8MinElements: info.uint8MinElements ?? 1024,
    onnx: info.onnx ?? true,
    evaluation: info.evaluation,
    versions: { ...(info.versions ?? {}) },
    overwrite: info.overwrite ?? false,
    companionFiles: [...(info.companionFiles ?? DEFAULT_COMPANION_FILES)],
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function argmax(logits: Float32Array, classes: number): Int32Array {
  const out = new Int32Array(logits.length / classes);
  for (let i = 0; i < out.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++)
      if ((logits[i * classes + c] as number) > (logits[i * classes + best] as number)) best = c;
    out[i] = best;
  }
  return out;
}

/**
 * Writes `model` to `dir`: `model.json` + shards (float32), `float16/` and `uint8/` quantised
 * variants, `model.onnx`, and `manifest.json` (class names, input shape/layout, normalisation,
 * preprocessing, metrics, versions, artifact sizes and measured accuracy change). Everything is
 * written into a temporary sibling directory first and renamed into place, so a crash never
 * leaves a half-written export at `dir`.
 */
export async function exportModel(
  model: LayersModel,
  dir: string,
  info: ExportInfo,
): Promise<ExportResult> {
  const inputShape = (model.inputs[0]?.shape ?? []).slice(1) as number[];
  if (
    model.inputs.length !== 1 ||
    inputShape.length !== 3 ||
    !inputShape.every((d) => typeof d === "number")
  ) {
    throw new ExportError(
      "invalid_model",
      `exportModel: expected a model with one [height, width, channels] input, got ${JSON.stringify(model.inputs.map((i) => i.shape))}`,
    );
  }
  const outShape = model.outputs[0]?.shape ?? [];
  const classes = outShape[1];
  if (model.outputs.length !== 1 || outShape.length !== 2 || typeof classes !== "number") {
    throw new ExportError(
      "invalid_model",
      `exportModel: expected one [batch, classes] output, got ${JSON.stringify(model.outputs.map((o) => o.shape))}`,
    );
  }
  const opts = resolveExportInfo(info, inputShape, classes);
  const target = resolve(dir);
  await removeStaleExportTemps(target);
  if (await exists(target)) {
    if (!opts.overwrite) {
      throw new ExportError(
        "exists",
        `${target}: an export (or other directory) is already there; pass overwrite: true to replace it`,
      );
    }
    // Refused before the work, not after it.
    await assertExportReplaceable(target, { companionFiles: opts.companionFiles });
  }

  let saved: io.ModelArtifacts | undefined;
  await model.save(
    io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (!saved) throw new ExportError("save_failed", "exportModel: tfjs produced no model artifacts");
  const float32 = saved;

  await makeDirs(dirname(target));
  const tmp = exportTempName(target, "partial", randomBytes(4).toString("hex"));
  await mkdir(tmp);
  try {
    const artifacts: ManifestArtifact[] = [];
    artifacts.push({
      name: "tfjs",
      format: "tfjs-layers",
      path: "model.json",
      weights: "float32",
      bytes: await saveArtifacts(tmp, float32),
    });

    // Reference predictions on the evaluation images, to measure each variant against.
    const evalInputs = opts.evaluation
      ? normalizePixels(opts.evaluation.images, {
          input: {
            shape: inputShape as [number, number, number],
            layout: "NHWC",
            dtype: "float32",
            channelOrder: "RGB",
          },
          normalization: { mean: opts.mean, std: opts.std },
          preprocessing: { pixelScale: opts.pixelScale } as Preprocessing,
        })
      : undefined;
    const evalCount = opts.evaluation?.labels.length ?? 0;
    const accuracyOf = (pred: Int32Array) => {
      let hit = 0;
      for (let i = 0; i < pred.length; i++) if (pred[i] === opts.evaluation?.labels[i]) hit++;
      return pred.length ? hit / pred.length : Number.NaN;
    };
    let reference: Int32Array | undefined;
    if (evalInputs) {
      reference = argmax(
        await layersRunner(model, inputShape, false).run(evalInputs, evalCount),
        classes,
      );
      (artifacts[0] as ManifestArtifact).accuracy = accuracyOf(reference);
      (artifacts[0] as ManifestArtifact).accuracyChange = 0;
      (artifacts[0] as ManifestArtifact).top1Agreement = 1;
    }

    for (const dtype of opts.quantize) {
      const q = quantizeArtifacts(float32, dtype, { uint8MinElements: opts.uint8MinElements });
      await mkdir(join(tmp, dtype));
      const entry: ManifestArtifact = {
        name: `tfjs-${dtype}`,
        format: "tfjs-layers",
        path: `${dtype}/model.json`,
        weights: dtype,
        bytes: await saveArtifacts(join(tmp, dtype), q),
      };
      if (evalInputs && reference) {
        const loaded = await loadLayersModel(io.fromMemory(q));
        const runner = layersRunner(loaded, inputShape, true);
        try {
          const pred = argmax(await runner.run(evalInputs, evalCount), classes);
          entry.accuracy = accuracyOf(pred);
          entry.accuracyChange =
            entry.accuracy - ((artifacts[0] as ManifestArtifact).accuracy as number);
          entry.top1Agreement =
            pred.reduce((n, p, i) => n + (p === reference?.[i] ? 1 : 0), 0) / pred.length;
        } finally {
          runner.dispose();
        }
      }
      artifacts.push(entry);
    }

    // How to feed the model: in manifest.json, and in model.onnx's metadata for the file alone.
    const [h, w] = inputShape;
    const feeding: Pick<
      Manifest,
      "classNames" | "input" | "output" | "normalization" | "preprocessing"
    > = {
      classNames: opts.classNames,
      input: {
        shape: inputShape as [number, number, number],
        layout: "NHWC",
        dtype: "float32",
        channelOrder: "RGB",
      },
      output: { kind: "logits", classes },
      normalization: { mean: opts.mean, std: opts.std },
      preprocessing: {
        resize: opts.resize,
        filter: "area-bilinear",
        pixelScale: opts.pixelScale,
        steps: [
          "decode PNG/JPEG to 8-bit RGB (grey is repeated, alpha dropped)",
          opts.resize === "stretch"
            ? `resize to ${w}×${h} ignoring aspect ratio (area average when shrinking, bilinear when enlarging)`
            : `resize the shorter side to ${Math.min(h as number, w as number)} keeping aspect ratio, then centre-crop ${w}×${h} (area average when shrinking, bilinear when enlarging)`,
          `divide by ${opts.pixelScale}`,
          `subtract mean [${opts.mean.join(", ")}] and divide by std [${opts.std.join(", ")}] per channel`,
          "lay out NHWC float32",
        ],
      },
    };

    if (opts.onnx) {
      const { exportOnnx } = await import("./onnx-export.js");
      const onnx = exportOnnx(model, {
        docString: `${model.name}: ${opts.classNames.length}-class classifier exported by @cnnkit/export`,
        metadata: Object.fromEntries(
          Object.entries(feeding).map(([key, value]) => [key, JSON.stringify(value)]),
        ),
      });
      await writeFile(join(tmp, "model.onnx"), onnx.bytes);
      artifacts.push({
        name: "onnx",
        format: "onnx",
        path: "model.onnx",
        weights: "float32",
        bytes: onnx.bytes.byteLength,
        onnx: { input: onnx.input, output: onnx.output, inputLayout: "NHWC", opset: onnx.opset },
      });
    }

    // What each artifact's files hash to, as written: loads check them before trusting a weight.
    for (const artifact of artifacts) artifact.sha256 = await digestArtifact(tmp, artifact);

    const manifest: Manifest = {
      formatVersion: MANIFEST_FORMAT_VERSION,
      createdAt: new Date().toISOString(),
      ...feeding,
      metrics: opts.metrics,
      versions: {
        "@cnnkit/export": pkg.version,
        "@tensorflow/tfjs-core": tf.version_core,
        "@tensorflow/tfjs-layers": version_layers,
        node: process.version,
        backend: tf.getBackend(),
        ...opts.versions,
      },
      model: { name: model.name, parameters: model.countParams() },
      artifacts,
    };
    // The manifest goes last: its presence is what marks an export complete.
    await writeFile(join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);

    if (await exists(target)) {
      const old = exportTempName(target, "old", randomBytes(4).toString("hex"));
      await rename(target, old);
      // Checked again once it is out of the way: a file put there during the export stays.
      const problem = await exportReplaceProblem(old, opts.companionFiles);
      if (problem) {
        await rename(old, target);
        throw replaceRefused(target, problem);
      }
      await rename(tmp, target);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, target);
    }
    return { dir: target, manifest };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
