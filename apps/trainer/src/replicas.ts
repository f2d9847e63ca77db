// How many data-parallel replicas of the model a run trains with. The replicas themselves are
// `@cnnkit/train`'s `DataParallel`: worker threads, each a copy of the model on its share of
// the cores, computing the gradients of their slice of every batch (see the README's "Both
// cores: replicas"); its `dataParallelStep` applies them as one model's step would.
import os from "node:os";
import { autoReplicas } from "@cnnkit/train/data-parallel";
import type { TrainConfig } from "./config.js";

/**
 * The replicas a run gets on `backend`: the configured number, or for `"auto"` one per core
 * while each keeps at least 32 images of the batch, on wasm and cpu (1 on GPU and native
 * backends, which use the cores themselves, with emulated float16, and with `stepGraph`).
 */
export function resolveReplicas(
  config: Pick<TrainConfig, "replicas" | "batchSize"> &
    Partial<Pick<TrainConfig, "precision" | "stepGraph">>,
  backend: string,
  cores = os.availableParallelism(),
): number {
  if (config.replicas !== "auto") return config.replicas;
  // Emulated float16 runs in one model (the replicas would compute float32 gradients); so does
  // the step as one ONNX Runtime session (its threads take the cores).
  if (config.precision === "fp16-emulated" || config.stepGraph === true) return 1;
  return autoReplicas(config.batchSize, backend, cores);
}
