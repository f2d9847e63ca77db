// Per-block gradient norms: how much signal each residual block receives. In a plain deep
// network the early blocks' norms collapse (or explode) by orders of magnitude; with
// shortcuts they stay within a small factor of the last block's: the "why residuals help" plot.
import { parseBlockLayerName } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { ExplainError } from "./errors.js";

/**
 * The group a layer's weights count towards: `stem` for `stem_*`, `stage{s}_block{b}` for
 * every layer of a block (convs, BatchNorms, projection), else the layer's own name
 * (`logits`).
 */
export function gradientGroup(layerName: string): string {
  const block = parseBlockLayerName(layerName);
  if (block !== undefined) return `stage${block.stage}_block${block.block}`;
  if (layerName.startsWith("stem_")) return "stem";
  return layerName;
}

/**
 * The L2 norm of the gradients of each group of the model's trainable weights (see
 * {@link gradientGroup}), in forward order: `{ stem, stage1_block1, …, logits }`. `grads` is
 * keyed by variable name, as `tf.variableGrads` and `optimizer.computeGradients` return it;
 * weights with no gradient in it are left out (a group with none is absent). One read-back
 * per call; the tensors it makes are disposed and `grads` is left alone.
 */
export function gradientNormsByBlock(
  grads: tf.NamedTensorMap,
  model: LayersModel,
): Record<string, number> {
  if (grads === null || typeof grads !== "object") {
    throw new ExplainError(
      "invalid_input",
      `gradientNormsByBlock grads: expected a map from variable name to gradient tensor, got ${grads === null ? "null" : typeof grads}`,
    );
  }
  const groups = new Map<string, tf.Tensor[]>();
  for (const layer of model.layers) {
    for (const weight of layer.trainableWeights) {
      // Variables of a second model built with the same layer names get a suffix ("_1");
      // the unsuffixed name is accepted too, for maps keyed by layer/weight.
      const grad = grads[weight.name] ?? grads[weight.originalName];
      if (grad === undefined) continue;
      if (!(grad instanceof tf.Tensor) || grad.shape.join() !== weight.shape.join()) {
        throw new ExplainError(
          "invalid_input",
          `gradientNormsByBlock grads[${JSON.stringify(weight.name)}]: expected a tensor of shape [${weight.shape.join(", ")}] (the variable's), got ${grad instanceof tf.Tensor ? `[${grad.shape.join(", ")}]` : typeof grad}`,
        );
      }
      const group = gradientGroup(layer.name);
      const list = groups.get(group) ?? [];
      list.push(grad);
      groups.set(group, list);
    }
  }
  if (groups.size === 0) {
    const keys = Object.keys(grads);
    const names = model.trainableWeights.map((w) => w.name);
    throw new ExplainError(
      "no_gradients",
      `gradientNormsByBlock: expected gradients keyed by the variable names of model ${JSON.stringify(model.name)} (e.g. ${names
        .slice(0, 3)
        .map((n) => JSON.stringify(n))
        .join(", ")}), got ${
        keys.length === 0
          ? "an empty map"
          : `keys ${keys
              .slice(0, 3)
              .map((k) => JSON.stringify(k))
              .join(", ")}${keys.length > 3 ? ", …" : ""}`
      }`,
    );
  }
  const names = [...groups.keys()];
  const squares = tf.tidy(() =>
    tf.stack(names.map((name) => tf.addN(groups.get(name)!.map((g) => tf.sum(tf.square(g)))))),
  );
  const values = squares.dataSync();
  squares.dispose();
  return Object.fromEntries(names.map((name, i) => [name, Math.sqrt(values[i]!)]));
}
