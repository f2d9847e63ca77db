// Walking a functional tf.LayersModel by hand: finding layers by name, and running the graph
// with one layer's output replaced, so Grad-CAM can differentiate the logits with respect to
// an inner activation. (tfjs cannot build a model whose input is an inner tensor, and its
// executor, which can feed one, is not public API.)
import { stageOutputNames } from "@cnnkit/resnet";
import type * as tf from "@tensorflow/tfjs-core";
import type { LayersModel, SymbolicTensor } from "@tensorflow/tfjs-layers";
import { ExplainError } from "./errors.js";

/** A layer of a model, as this package uses it. */
export type ModelLayer = LayersModel["layers"][number];

/** The layer named `name`, or an `unknown_layer` error naming it and listing what exists. */
export function findLayer(model: LayersModel, name: string, where: string): ModelLayer {
  const layer = model.layers.find((l) => l.name === name);
  if (layer === undefined) {
    const names = model.layers.map((l) => l.name);
    const shown = names.length > 12 ? [...names.slice(0, 12), "…"] : names;
    throw new ExplainError(
      "unknown_layer",
      `${where}: expected a layer named ${JSON.stringify(name)} in model ${JSON.stringify(model.name)}, found none (layers: ${shown.join(", ")})`,
    );
  }
  return layer;
}

/** The model must have one input and one output (the logits) for a graph walk. */
export function checkSingleIO(model: LayersModel, where: string): void {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ExplainError(
      "unsupported_model",
      `${where}: expected a model with 1 input and 1 output (the logits), got ${model.inputs.length} inputs and ${model.outputs.length} outputs`,
    );
  }
}

/** The model's input shape without the batch, e.g. [32, 32, 3]. */
export function inputShape(model: LayersModel, where: string): [number, number, number] {
  checkSingleIO(model, where);
  const shape = model.inputs[0]!.shape;
  const [, h, w, c] = shape;
  if (shape.length !== 4 || !h || !w || !c) {
    throw new ExplainError(
      "unsupported_model",
      `${where}: expected an image model with input [null, height, width, channels], got [${shape.map(String).join(", ")}]`,
    );
  }
  return [h, w, c];
}

interface Step {
  readonly layer: ModelLayer;
  readonly inputs: readonly SymbolicTensor[];
  readonly output: SymbolicTensor;
}

/**
 * The model's layers as steps in forward order, each with the symbolic tensors it reads and
 * writes. A layer can be called at several places (nodes); the node used is the one whose
 * inputs the walk has already produced, which is the model's own node for layers of one model.
 */
function plan(model: LayersModel, where: string): Step[] {
  const known = new Set<number>(model.inputs.map((t) => t.id));
  const steps: Step[] = [];
  for (const layer of model.layers) {
    if (layer.getClassName() === "InputLayer") continue;
    const node = layer.inboundNodes.find(
      (n) => n.inputTensors.length > 0 && n.inputTensors.every((t) => known.has(t.id)),
    );
    if (node === undefined || node.outputTensors.length !== 1) {
      throw new ExplainError(
        "unsupported_model",
        `${where}: cannot follow layer ${JSON.stringify(layer.name)} (${layer.getClassName()}): expected one call with one output fed by earlier layers; nested models and multi-output layers are not supported`,
      );
    }
    known.add(node.outputTensors[0]!.id);
    steps.push({ layer, inputs: node.inputTensors, output: node.outputTensors[0]! });
  }
  if (!known.has(model.outputs[0]!.id)) {
    throw new ExplainError(
      "unsupported_model",
      `${where}: the walk over model ${JSON.stringify(model.name)} never reached its output`,
    );
  }
  return steps;
}

/** Applies one step to the values computed so far, in inference mode, and records its output. */
function run(step: Step, env: Map<number, tf.Tensor>): tf.Tensor {
  const inputs = step.inputs.map((t) => env.get(t.id)!);
  // training: false makes BatchNorm use its moving statistics and Dropout pass through.
  const out = step.layer.apply(inputs.length === 1 ? inputs[0]! : inputs, {
    training: false,
  }) as tf.Tensor;
  env.set(step.output.id, out);
  return out;
}

/**
 * A forward pass split at one layer: `prefix` runs the model once and keeps every value,
 * `head(a)` recomputes only what depends on that layer, with its output replaced by `a`. Both
 * run in inference mode (BatchNorm uses its moving statistics) and must be called in a tidy.
 */
export interface SplitModel {
  /** Runs the whole model on `x`; returns the layer's activation and the logits. */
  prefix(x: tf.Tensor): { activation: tf.Tensor; logits: tf.Tensor };
  /** The logits with the layer's output replaced by `a` (call after `prefix`). */
  head(a: tf.Tensor): tf.Tensor;
}

export function splitModel(model: LayersModel, layerName: string, where: string): SplitModel {
  checkSingleIO(model, where);
  const layer = findLayer(model, layerName, where);
  const steps = plan(model, where);
  const at = steps.findIndex((s) => s.layer === layer);
  if (at < 0) {
    throw new ExplainError(
      "invalid_option",
      `${where}: layer ${JSON.stringify(layerName)} is the model's input; expected a layer after it`,
    );
  }
  const cut = steps[at]!.output.id;
  // The steps downstream of the cut: the only ones the head must recompute. The others
  // (e.g. a shortcut that bypasses the layer) are constants with respect to its output.
  const tainted = new Set<number>([cut]);
  const downstream: Step[] = [];
  for (const step of steps.slice(at + 1)) {
    if (step.inputs.some((t) => tainted.has(t.id))) {
      tainted.add(step.output.id);
      downstream.push(step);
    }
  }
  const outputId = model.outputs[0]!.id;
  let values = new Map<number, tf.Tensor>();
  return {
    prefix(x) {
      values = new Map([[model.inputs[0]!.id, x]]);
      for (const step of steps) run(step, values);
      return { activation: values.get(cut)!, logits: values.get(outputId)! };
    },
    head(a) {
      const env = new Map(values);
      env.set(cut, a);
      for (const step of downstream) run(step, env);
      return env.get(outputId)!;
    },
  };
}

/** The stage outputs of a cnnkit ResNet, or an error saying which option to pass instead. */
export function stageOutputs(model: LayersModel, where: string, option: string): string[] {
  try {
    return stageOutputNames(model);
  } catch (cause) {
    throw new ExplainError(
      "not_a_resnet",
      `${where}: expected a cnnkit ResNet (layers named stage{s}_block{b}_out) to pick the default layer, found none in model ${JSON.stringify(model.name)}; pass ${option}`,
      { cause },
    );
  }
}

/**
 * Runs the model once on `x` in inference mode and returns the output of each layer in
 * `names`, in that order (call in a tidy; the values are intermediate tensors of the pass).
 */
export function layerOutputs(
  model: LayersModel,
  x: tf.Tensor,
  names: readonly string[],
  where: string,
): tf.Tensor[] {
  checkSingleIO(model, where);
  const layers = names.map((name) => findLayer(model, name, where));
  const values = new Map<number, tf.Tensor>([[model.inputs[0]!.id, x]]);
  const byLayer = new Map<ModelLayer, tf.Tensor>();
  const wanted = new Set(layers);
  for (const step of plan(model, where)) {
    const out = run(step, values);
    if (wanted.has(step.layer)) byLayer.set(step.layer, out);
    if (byLayer.size === wanted.size) break;
  }
  return layers.map((layer) => {
    const out = byLayer.get(layer);
    if (out === undefined) {
      throw new ExplainError(
        "invalid_option",
        `${where}: layer ${JSON.stringify(layer.name)} is the model's input; expected a layer after it`,
      );
    }
    return out;
  });
}
