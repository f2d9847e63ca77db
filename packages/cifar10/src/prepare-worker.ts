// The worker thread that builds batches while the main thread trains. It receives the split
// (shared, not copied, when it lives on a SharedArrayBuffer, as loadCifar10's does) and the
// augmentations as plain specs, and answers { epoch, step } requests with transferred buffers.
import { parentPort, workerData } from "node:worker_threads";
import type { AugmentationSpec } from "./augmentation.js";
import { augmentationFromSpec } from "./augmentation-spec.js";
import { type BatchPlan, epochOrder, prepareHostBatch } from "./prepare-batch.js";

export interface WorkerInit {
  plan: Omit<BatchPlan, "augment">;
  augment: AugmentationSpec | null;
}

export interface WorkerRequest {
  id: number;
  epoch: number;
  step: number;
}

const init = workerData as WorkerInit;
const plan: BatchPlan = {
  ...init.plan,
  augment: init.augment ? augmentationFromSpec(init.augment) : null,
};
let cached: { epoch: number; order: Int32Array } | null = null;

parentPort!.on("message", (request: WorkerRequest) => {
  try {
    if (cached?.epoch !== request.epoch) {
      cached = { epoch: request.epoch, order: epochOrder(plan, request.epoch) };
    }
    const host = prepareHostBatch(plan, request.epoch, request.step, cached.order);
    // Fresh ArrayBuffers made by prepareHostBatch: moved to the main thread, not copied.
    const transfer = [host.pixels.buffer, host.labels.buffer, host.indices.buffer] as ArrayBuffer[];
    parentPort!.postMessage({ id: request.id, host }, transfer);
  } catch (error) {
    parentPort!.postMessage({ id: request.id, error: (error as Error).message });
  }
});
