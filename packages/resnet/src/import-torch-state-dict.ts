// Loads weights named as PyTorch names them for these networks (pytorch-cifar style:
// conv1/bn1, layer{s}.{b}.conv1|bn1|conv2|bn2|shortcut.0|shortcut.1, linear; for the fast
// ResNet airbench94's nn.Sequential indices: 0 the whitening conv, {s+1}.conv1|norm1|conv2|norm2
// the conv groups, 7 the head) into a cnnkit ResNet, converting layouts:
// conv [out, in, kh, kw] → [kh, kw, in, out], linear [out, in] → [in, out].
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { ResNetError } from "./errors.js";
import { LAYER_NAMES, parseBlockLayerName } from "./layer-names.js";
import {
  parseSafetensors,
  type SafetensorsFile,
  type SafetensorsTensor,
  safetensorsToFloat32,
} from "./safetensors.js";

/** Options of {@link importTorchStateDict}. */
export interface ImportTorchStateDictOptions {
  /**
   * Refuse state-dict entries the model has no place for (a different architecture, a conv
   * with a bias). `num_batches_tracked` counters are always skipped. Defaults to `true`.
   */
  strict?: boolean;
  /** The file name used in error messages. Defaults to `"state dict"`. */
  source?: string;
}

/** What {@link importTorchStateDict} did. */
export interface ImportTorchStateDictReport {
  /** The PyTorch names loaded, in model order. */
  readonly loaded: readonly string[];
  /** The PyTorch names skipped (`num_batches_tracked`, and unknown ones when not strict). */
  readonly skipped: readonly string[];
}

/** The PyTorch module path of a cnnkit layer, with the alternatives other ports use. */
function torchModules(layerName: string): string[] | undefined {
  switch (layerName) {
    case LAYER_NAMES.stemConv:
      return ["conv1", "0"]; // airbench94: net[0] is the whitening conv
    case LAYER_NAMES.stemBn:
      return ["bn1"];
    case LAYER_NAMES.logits:
      return ["linear", "fc"]; // torchvision calls it fc
    case LAYER_NAMES.head:
      return ["7"]; // airbench94: net[7], the bias-free Linear
  }
  const p = parseBlockLayerName(layerName);
  if (p === undefined) return undefined;
  const block = `layer${p.stage}.${p.block - 1}`;
  // airbench94's conv groups are net[2], net[3], net[4], one "block" each, BNs named norm1|norm2.
  const group = `${p.stage + 1}`;
  switch (p.part) {
    case "conv1":
    case "conv2":
      return [`${block}.${p.part}`, ...(p.block === 1 ? [`${group}.${p.part}`] : [])];
    case "bn1":
    case "bn2":
      return [
        `${block}.${p.part}`,
        ...(p.block === 1 ? [`${group}.${p.part === "bn1" ? "norm1" : "norm2"}`] : []),
      ];
    case "shortcut_conv":
      return [`${block}.shortcut.0`, `${block}.downsample.0`]; // torchvision: downsample
    case "shortcut_bn":
      return [`${block}.shortcut.1`, `${block}.downsample.1`];
    default:
      return undefined;
  }
}

/** Suffixes of the PyTorch parameters behind each tfjs weight, in `layer.weights` order. */
function torchParams(className: string, weights: number): string[] | undefined {
  switch (className) {
    case "Conv2D":
    case "Dense":
      // With or without a bias.
      return ["weight", "bias"].slice(0, weights);
    case "BatchNormalization":
      return ["weight", "bias", "running_mean", "running_var"];
    default:
      return undefined;
  }
}

// Wrappers add these prefixes: nn.DataParallel / DDP ("module.") and torch.compile ("_orig_mod.").
const WRAPPER_PREFIXES = ["module.", "_orig_mod."];

function stripWrappers(name: string): string {
  for (let again = true; again; ) {
    again = false;
    for (const prefix of WRAPPER_PREFIXES) {
      if (name.startsWith(prefix)) {
        name = name.slice(prefix.length);
        again = true;
      }
    }
  }
  return name;
}

/** PyTorch layout → tfjs layout, for a weight whose tfjs shape is `target`. */
function toTfjsLayout(data: Float32Array, torchShape: readonly number[], rank: number) {
  if (rank === 4) {
    const [o, i, kh, kw] = torchShape as [number, number, number, number];
    const out = new Float32Array(data.length);
    for (let a = 0; a < o; a++)
      for (let b = 0; b < i; b++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            out[((y * kw + x) * i + b) * o + a] = data[((a * i + b) * kh + y) * kw + x]!;
    return { data: out, shape: [kh, kw, i, o] };
  }
  if (rank === 2) {
    const [o, i] = torchShape as [number, number];
    const out = new Float32Array(data.length);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) out[b * o + a] = data[a * i + b]!;
    return { data: out, shape: [i, o] };
  }
  return { data, shape: [...torchShape] };
}

const shapeText = (s: readonly (number | null)[]) => `[${s.join(", ")}]`;

/**
 * Loads a PyTorch state dict (safetensors bytes, or an already parsed file) into a model
 * built by this package, so a network trained with the original PyTorch script can be
 * evaluated and exported here. Everything is checked before any weight is written: a
 * missing tensor, a dtype other than F32 or a shape mismatch fails with the tensor's name and
 * leaves the model as it was.
 */
export function importTorchStateDict(
  model: LayersModel,
  tensors: Uint8Array | ArrayBuffer | SafetensorsFile,
  options: ImportTorchStateDictOptions = {},
): ImportTorchStateDictReport {
  const { strict = true, source = "state dict" } = options;
  let file: SafetensorsFile;
  if (tensors instanceof Uint8Array || tensors instanceof ArrayBuffer) {
    file = parseSafetensors(tensors, { source });
  } else if (tensors !== null && typeof tensors === "object" && tensors.tensors instanceof Map) {
    file = tensors;
  } else {
    throw new ResNetError(
      "invalid_option",
      `tensors: expected safetensors bytes (Uint8Array, e.g. from readFile) or a parsed SafetensorsFile, got ${
        typeof tensors === "string"
          ? `the string ${JSON.stringify(tensors)} (read the file first)`
          : typeof tensors
      }`,
    );
  }
  const byName = new Map<string, { original: string; tensor: SafetensorsTensor }>();
  for (const [original, tensor] of file.tensors) {
    byName.set(stripWrappers(original), { original, tensor });
  }

  const used = new Set<string>();
  const loaded: string[] = [];
  const writes: {
    layer: (typeof model.layers)[number];
    values: { data: Float32Array; shape: number[] }[];
  }[] = [];
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const className = layer.getClassName();
    const modules = torchModules(layer.name);
    const params = torchParams(className, layer.weights.length);
    if (modules === undefined || params === undefined || params.length !== layer.weights.length) {
      throw new ResNetError(
        "unknown_layer",
        `${source}: layer "${layer.name}" (${className}) has no PyTorch counterpart; expected a model built by @cnnkit/resnet`,
      );
    }
    const module = modules.find((m) => byName.has(`${m}.${params[0]}`)) ?? modules[0]!;
    const values = params.map((param, k) => {
      const key = `${module}.${param}`;
      const found = byName.get(key);
      const target = layer.weights[k]!.shape as number[];
      if (found === undefined) {
        throw new ResNetError(
          "missing_tensor",
          `${source}: expected tensor "${key}" ${shapeText(target)} for layer "${layer.name}", not found`,
        );
      }
      const data = safetensorsToFloat32(found.tensor, found.original);
      const converted = toTfjsLayout(data, found.tensor.shape, target.length);
      if (
        found.tensor.shape.length !== target.length ||
        converted.shape.some((d, i) => d !== target[i])
      ) {
        const expectedTorch =
          target.length === 4
            ? [target[3], target[2], target[0], target[1]]
            : target.length === 2
              ? [target[1], target[0]]
              : target;
        throw new ResNetError(
          "shape_mismatch",
          `${source}: tensor "${found.original}": expected shape ${shapeText(expectedTorch as number[])} (PyTorch layout) for layer "${layer.name}", got ${shapeText(found.tensor.shape)}`,
        );
      }
      used.add(key);
      loaded.push(found.original);
      return converted;
    });
    writes.push({ layer, values });
  }

  const skipped: string[] = [];
  const unexpected: string[] = [];
  for (const [name, { original }] of byName) {
    if (used.has(name)) continue;
    if (name.endsWith(".num_batches_tracked") || !strict) skipped.push(original);
    else unexpected.push(original);
  }
  if (unexpected.length > 0) {
    throw new ResNetError(
      "unexpected_tensor",
      `${source}: expected only tensors of model "${model.name}", got ${unexpected.length} more: ${unexpected
        .slice(0, 5)
        .map((n) => `"${n}"`)
        .join(", ")}${unexpected.length > 5 ? ", …" : ""} (pass strict: false to skip them)`,
    );
  }

  for (const { layer, values } of writes) {
    const ts = values.map((v) => tf.tensor(v.data, v.shape, "float32"));
    try {
      layer.setWeights(ts);
    } finally {
      tf.dispose(ts);
    }
  }
  return { loaded, skipped };
}
