import { describe, expect, it, vi } from "vitest";
import { BatchWorker } from "./batch-worker.js";
import { epochOrder, prepareHostBatch } from "./prepare-batch.js";

const plan = {
  images: Uint8Array.from({ length: 4 * 3072 }, (_, i) => i % 256),
  labels: Uint8Array.of(0, 1, 2, 3),
  length: 4,
  batchSize: 2,
  shuffle: true,
  seed: 3,
  lut: Float32Array.from({ length: 768 }, (_, i) => (i % 256) / 255),
};

describe("BatchWorker", () => {
  it("answers with the same batch the main thread builds", async () => {
    const worker = new BatchWorker(plan, { kind: "horizontalFlip", probability: 0.5 });
    try {
      const host = await worker.request(2, 1);
      const local = prepareHostBatch(
        { ...plan, augment: (await import("./horizontal-flip.js")).horizontalFlip() },
        2,
        1,
        epochOrder({ ...plan, augment: null }, 2),
      );
      expect([...host.indices]).toEqual([...local.indices]);
      expect([...host.pixels]).toEqual([...local.pixels]);
    } finally {
      await worker.close();
    }
  });

  it("retires after idleMs without requests, without reporting a failure", async () => {
    const worker = new BatchWorker(plan, null, 20);
    await worker.request(0, 0);
    await vi.waitFor(() => expect(worker.retired).toBe(true), { timeout: 10_000, interval: 20 });
    await new Promise((r) => setTimeout(r, 50));
    expect(worker.failure).toBeNull();
    await expect(worker.request(0, 1)).rejects.toThrow("batch worker retired");
  });
});
