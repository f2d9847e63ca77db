// `cnnkit-train show-batch`: the first training batch exactly as the model will see it
// (augmented, normalised, then mapped back to pixels), to check the data before a long run.
import { join } from "node:path";
import { saveBatchGrid } from "@cnnkit/cifar10/pictures";
import * as tf from "@tensorflow/tfjs-core";
import type { TrainConfig } from "../config.js";
import { type RunData, trainBatches } from "../data.js";

/** Writes `DIR/augmented-batch.png` and returns its path. */
export async function showBatch(config: TrainConfig, data: RunData, dir: string): Promise<string> {
  const batches = trainBatches(data.train, config);
  const batch = batches.toTensors(batches.prepare(0, 0, batches.order(0)), 0);
  const path = join(dir, "augmented-batch.png");
  try {
    await saveBatchGrid(batch, path, {
      normalize: batches.options.normalize,
      classNames: data.classNames,
    });
  } finally {
    tf.dispose([batch.x, batch.y]);
  }
  return path;
}
