// Weights a layer owns but never trains (airbench's frozen BatchNorm scale, the whitening
// stem's kernel), kept out of training whatever `layer.trainable` or `model.trainable` is set to.
//
// tfjs-layers has no per-weight switch that survives those setters: both set `trainable` on
// every weight of the layer's trainable list. So a frozen weight moves to the non-trainable
// list, like BatchNorm's moving statistics. That list comes after the trainable one in
// `layer.weights`, which would reorder getWeights()/setWeights() (and break weight copies
// between this layer and the built-in class a saved model reloads as); `weightsInBuildOrder`
// is what the layer's `weights` getter returns instead, so the order stays tfjs's own.
import type { LayerVariable } from "@tensorflow/tfjs-layers";
import type { Layer } from "@tensorflow/tfjs-layers/dist/engine/topology.js";

interface WeightLists {
  _trainableWeights: LayerVariable[];
  _nonTrainableWeights: LayerVariable[];
}

/**
 * Marks `frozen` (weights of the built `layer`) not trainable, for good, and returns every
 * weight of the layer in the order `build()` created them.
 */
export function freezeWeights(layer: Layer, frozen: readonly LayerVariable[]): LayerVariable[] {
  const lists = layer as unknown as WeightLists;
  const buildOrder = [...lists._trainableWeights, ...lists._nonTrainableWeights];
  for (const w of frozen) w.trainable = false;
  lists._trainableWeights = lists._trainableWeights.filter((w) => !frozen.includes(w));
  lists._nonTrainableWeights = [...frozen, ...lists._nonTrainableWeights];
  return buildOrder;
}
