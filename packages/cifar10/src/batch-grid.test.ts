import "@tensorflow/tfjs-backend-cpu";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { decodePNG } from "@cnnkit/viz";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../test/helpers.js";
import {
  CIFAR10_CLASS_NAMES,
  type Cifar10Batch,
  Cifar10Batches,
  type Cifar10Split,
  denormalize,
  horizontalFlip,
} from "./index.js";
import { batchGrid, saveBatchGrid } from "./pictures.js";

let dir: string;
beforeAll(async () => {
  await tf.setBackend("cpu");
  dir = await tempDir();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function split(n: number): Cifar10Split {
  const images = new Uint8Array(n * 3072);
  for (let i = 0; i < images.length; i++) images[i] = (i * 29) % 256;
  return { images, labels: Uint8Array.from({ length: n }, (_, i) => (i * 3) % 10), length: n };
}

async function firstBatch(b: Cifar10Batches): Promise<Cifar10Batch> {
  const epoch = b.epoch(0);
  const batch = (await epoch.next()).value as Cifar10Batch;
  await epoch.return();
  return batch;
}

describe("denormalize", () => {
  it("maps a normalised batch back to the exact source bytes", async () => {
    const s = split(4);
    for (const normalize of [
      undefined,
      false,
      { mean: [0.1, 0.2, 0.3], std: [0.5, 0.6, 0.7] },
    ] as const) {
      const b = new Cifar10Batches(s, { batchSize: 4, shuffle: false, normalize });
      const batch = await firstBatch(b);
      const { bytes, clipped } = denormalize(
        (await batch.x.data()) as Float32Array,
        b.options.normalize,
      );
      expect(clipped).toBe(0);
      expect([...bytes]).toEqual([...s.images]);
      tf.dispose([batch.x, batch.y]);
    }
  });

  it("counts values pushed out of range by the wrong stats", () => {
    // 3.0 normalised with mean 0.5, std 0.25 is 1.25 → 319 before clamping.
    const { bytes, clipped } = denormalize(Float32Array.of(3, 0, 0), {
      mean: [0.5, 0.5, 0.5],
      std: [0.25, 0.25, 0.25],
    });
    expect([...bytes]).toEqual([255, 128, 128]);
    expect(clipped).toBe(1);
  });
});

describe("batchGrid / saveBatchGrid", () => {
  it("draws the batch with class names and per-channel stats, and saves a PNG", async () => {
    const b = new Cifar10Batches(split(6), { batchSize: 6, augment: horizontalFlip() });
    const batch = await firstBatch(b);
    const before = tf.memory().numTensors;
    const picture = await batchGrid(batch, { normalize: b.options.normalize, columns: 3 });
    const svg = picture.toSVG();
    for (const label of batch.labels) {
      expect(svg).toContain(CIFAR10_CLASS_NAMES[label]);
    }
    expect(svg).toMatch(/6 of 6 images; x mean -?\d\.\d\d\/-?\d\.\d\d\/-?\d\.\d\d, std/);
    const path = join(dir, "batch.png");
    await saveBatchGrid(batch, path, { normalize: b.options.normalize });
    const png = decodePNG(new Uint8Array(await readFile(path)));
    // Six 32×32 images at the default 3× scale in one row (columns default to 8).
    expect(png.width).toBeGreaterThan(6 * 96);
    expect(png.height).toBeGreaterThan(96);
    expect(png.height).toBeLessThan(2 * 96);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([batch.x, batch.y]);
  });

  it("rejects a tensor that is not a [b, 32, 32, 3] batch", async () => {
    const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
    await expect(batchGrid({ x, labels: [0, 1] })).rejects.toThrow(
      "batchGrid: expected x of shape [b, 32, 32, 3], got [2, 28, 28, 1]",
    );
    x.dispose();
  });
});
