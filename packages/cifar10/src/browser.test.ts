import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { describe, expect, it } from "vitest";
import * as browser from "./browser.js";
import * as node from "./index.js";
import { Cifar10Batches, Cifar10Error, parseCifar10Split } from "./index.js";

/** Binary batch bytes: record r has label labels[r] and every pixel of channel c equal to r + c. */
function binBatch(labels: number[]): Uint8Array {
  const bytes = new Uint8Array(labels.length * 3073);
  labels.forEach((label, r) => {
    bytes[r * 3073] = label;
    for (let c = 0; c < 3; c++)
      bytes.fill(r + c, r * 3073 + 1 + c * 1024, r * 3073 + 1 + (c + 1) * 1024);
  });
  return bytes;
}

describe("the browser entry", () => {
  it("exports what the Node entry does, less loadCifar10", () => {
    expect(Object.keys(browser).sort()).toEqual(
      Object.keys(node)
        .filter((name) => name !== "loadCifar10")
        .sort(),
    );
  });
});

describe("parseCifar10Split", () => {
  it("decodes binary batch files, in order, to NHWC images and labels", () => {
    const split = parseCifar10Split([binBatch([3, 7]), binBatch([9])]);
    expect(split.length).toBe(3);
    expect(Array.from(split.labels)).toEqual([3, 7, 9]);
    expect(split.images.length).toBe(3 * 3072);
    // Planar R, G, B planes become interleaved pixels: image 1's first pixel is (1, 2, 3); the
    // second file's record 0 is image 2, whose first pixel is (0, 1, 2).
    expect(Array.from(split.images.subarray(3072, 3075))).toEqual([1, 2, 3]);
    expect(Array.from(split.images.subarray(2 * 3072 + 3069))).toEqual([0, 1, 2]);
  });

  it("names the file whose size is not whole records, and rejects what is not bytes", () => {
    expect(() =>
      parseCifar10Split(
        [binBatch([1]), new Uint8Array(100)],
        ["data_batch_1.bin", "test_batch.bin"],
      ),
    ).toThrow(/^test_batch\.bin: expected a multiple of 3073 bytes .*got 100/);
    expect(() => parseCifar10Split([] as Uint8Array[])).toThrow(Cifar10Error);
    expect(() => parseCifar10Split(["x"] as unknown as Uint8Array[])).toThrow(
      /expected the bytes of one or more \.bin batch files/,
    );
  });

  it("feeds Cifar10Batches, which outside Node prepares batches on the main thread", async () => {
    const split = parseCifar10Split([binBatch([0, 1, 2, 3])]);
    const getBuiltinModule = process.getBuiltinModule;
    // A browser has no process.getBuiltinModule; hiding it is how this test plays one.
    (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
    let batches: Cifar10Batches;
    try {
      batches = new Cifar10Batches(split, { batchSize: 2, shuffle: false });
    } finally {
      process.getBuiltinModule = getBuiltinModule;
    }
    expect(batches.preparation).toEqual({
      where: "main-thread",
      reason: "not Node (worker_threads): a browser page prepares batches between steps",
    });
    const labels: number[] = [];
    for await (const { x, y } of batches.epoch(0)) {
      expect(x.shape).toEqual([2, 32, 32, 3]);
      labels.push(...(await y.data()));
      tf.dispose([x, y]);
    }
    expect(labels).toEqual([0, 1, 2, 3]);
    await batches.close();
  });
});
