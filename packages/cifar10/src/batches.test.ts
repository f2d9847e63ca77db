import "@tensorflow/tfjs-backend-cpu";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  alternatingFlip,
  CIFAR10_MEAN,
  CIFAR10_STD,
  type Cifar10Batch,
  Cifar10Batches,
  type Cifar10Split,
  horizontalFlip,
  randomCrop,
} from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** A split of n images where every byte of image i equals i (so pixels identify images). */
function split(n: number): Cifar10Split {
  const images = new Uint8Array(n * 3072);
  for (let i = 0; i < n; i++) images.fill(i, i * 3072, (i + 1) * 3072);
  return { images, labels: Uint8Array.from({ length: n }, (_, i) => i % 10), length: n };
}

async function collect(it: AsyncIterable<Cifar10Batch>) {
  const out: {
    indices: number[];
    labels: number[];
    x: Float32Array;
    y: number[];
    shape: number[];
    step: number;
  }[] = [];
  for await (const b of it) {
    out.push({
      indices: [...b.indices],
      labels: [...b.labels],
      x: (await b.x.data()) as Float32Array,
      y: [...(await b.y.data())],
      shape: b.x.shape,
      step: b.step,
    });
    tf.dispose([b.x, b.y]);
  }
  return out;
}

describe("Cifar10Batches", () => {
  it("gives the exact steps per epoch, with and without dropLast", () => {
    expect(new Cifar10Batches(split(10), { batchSize: 4 }).stepsPerEpoch).toBe(3);
    expect(new Cifar10Batches(split(10), { batchSize: 4, dropLast: true }).stepsPerEpoch).toBe(2);
    expect(new Cifar10Batches(split(12), { batchSize: 4, dropLast: true }).stepsPerEpoch).toBe(3);
    expect(new Cifar10Batches(split(1000), { batchSize: 64 }).stepsPerEpoch).toBe(16);
    expect(
      new Cifar10Batches(split(50_000), { batchSize: 512, dropLast: true }).stepsPerEpoch,
    ).toBe(97);
  });

  it("yields exactly stepsPerEpoch batches covering every image once, shaped NHWC", async () => {
    const b = new Cifar10Batches(split(10), { batchSize: 4, seed: 3 });
    const batches = await collect(b.epoch(0));
    expect(batches).toHaveLength(b.stepsPerEpoch);
    expect(batches.map((x) => x.shape)).toEqual([
      [4, 32, 32, 3],
      [4, 32, 32, 3],
      [2, 32, 32, 3],
    ]);
    expect(batches.map((x) => x.step)).toEqual([0, 1, 2]);
    const seen = batches.flatMap((x) => x.indices);
    expect([...seen].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Labels and pixels belong to the indices they are reported with.
    for (const batch of batches) {
      expect(batch.labels).toEqual(batch.indices.map((i) => i % 10));
      expect(batch.y).toEqual(batch.labels);
    }
  });

  it("drops the last partial batch with dropLast", async () => {
    const b = new Cifar10Batches(split(10), { batchSize: 4, dropLast: true });
    const batches = await collect(b.epoch(0));
    expect(batches.map((x) => x.indices.length)).toEqual([4, 4]);
  });

  it("shuffles per epoch, reproducibly for a seed, and not at all with shuffle: false", async () => {
    const order = (seed: number, epoch: number) => [
      ...new Cifar10Batches(split(30), { seed }).order(epoch),
    ];
    expect(order(1, 0)).toEqual(order(1, 0));
    expect(order(1, 0)).not.toEqual(order(1, 1));
    expect(order(1, 0)).not.toEqual(order(2, 0));
    const plain = new Cifar10Batches(split(5), { shuffle: false, batchSize: 2 });
    expect((await collect(plain.epoch(0))).flatMap((x) => x.indices)).toEqual([0, 1, 2, 3, 4]);
  });

  it("normalises with the chosen stats: (v/255 − mean)/std per channel", async () => {
    const s = split(3);
    const [first] = await collect(new Cifar10Batches(s, { shuffle: false, batchSize: 3 }).epoch(0));
    // Image 2 is all 2s: channel c of any pixel is (2/255 − mean[c])/std[c].
    for (let c = 0; c < 3; c++) {
      const want = (2 / 255 - CIFAR10_MEAN[c]!) / CIFAR10_STD[c]!;
      expect(first!.x[2 * 3072 + 100 * 3 + c]).toBeCloseTo(want, 6);
    }
    const [plain] = await collect(
      new Cifar10Batches(s, { shuffle: false, batchSize: 3, normalize: false }).epoch(0),
    );
    expect(plain!.x[2 * 3072]).toBeCloseTo(2 / 255, 7);
    const custom = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.5, 1] } as const;
    const [c2] = await collect(
      new Cifar10Batches(s, { shuffle: false, batchSize: 3, normalize: custom }).epoch(0),
    );
    expect([c2!.x[3072], c2!.x[3073], c2!.x[3074]].map((v) => Number(v!.toFixed(6)))).toEqual(
      [(1 / 255 - 0.5) / 0.25, (1 / 255 - 0.5) / 0.5, 1 / 255 - 0.5].map((v) =>
        Number(v.toFixed(6)),
      ),
    );
  });

  it("gives one-hot float32 labels when asked", async () => {
    const b = new Cifar10Batches(split(4), { shuffle: false, batchSize: 2, oneHot: true });
    const it = b.epoch(0);
    const first = (await it.next()).value as Cifar10Batch;
    expect(first.y.shape).toEqual([2, 10]);
    expect(first.y.dtype).toBe("float32");
    expect(await first.y.array()).toEqual([
      [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    ]);
    tf.dispose([first.x, first.y]);
    await it.return();
    const ints = (await new Cifar10Batches(split(2), { batchSize: 2 }).epoch(0).next())
      .value as Cifar10Batch;
    expect(ints.y.dtype).toBe("int32");
    tf.dispose([ints.x, ints.y]);
  });

  it("augments reproducibly: same seed and (epoch, step) give the same pixels, resumed or not", async () => {
    const s = split(12);
    for (let i = 0; i < s.images.length; i++) s.images[i] = (i * 37) % 256;
    const options = { batchSize: 4, seed: 9, augment: [randomCrop(), horizontalFlip()] };
    const full = await collect(new Cifar10Batches(s, options).epoch(2));
    const again = await collect(new Cifar10Batches(s, options).epoch(2));
    expect(again.map((b) => [...b.x])).toEqual(full.map((b) => [...b.x]));
    // Resume at step 1 in a fresh object (a restarted run): identical batches 1 and 2.
    const resumed = await collect(new Cifar10Batches(s, options).epoch(2, { startStep: 1 }));
    expect(resumed.map((b) => b.step)).toEqual([1, 2]);
    expect(resumed.map((b) => [...b.x])).toEqual(full.slice(1).map((b) => [...b.x]));
    expect(resumed.map((b) => b.indices)).toEqual(full.slice(1).map((b) => b.indices));
    // And augmentation really changed the pixels.
    const plain = await collect(new Cifar10Batches(s, { ...options, augment: null }).epoch(2));
    expect(plain.map((b) => [...b.x])).not.toEqual(full.map((b) => [...b.x]));
  });

  describe("with alternatingFlip", () => {
    // Image i: byte (y, x, c) = i*7 + x*5 + y + c, so mirrored ≠ unmirrored and images differ.
    const s = split(40);
    for (let i = 0; i < 40; i++)
      for (let p = 0; p < 1024; p++)
        for (let c = 0; c < 3; c++)
          s.images[i * 3072 + p * 3 + c] = i * 7 + (p % 32) * 5 + (p >> 5) + c;
    const options = { batchSize: 6, seed: 5, normalize: false as const };

    /** Image → whether the epoch showed it mirrored (pixels read back from the x/255 batch). */
    async function flips(
      b: Cifar10Batches,
      e: number,
      startStep = 0,
    ): Promise<Map<number, boolean>> {
      const out = new Map<number, boolean>();
      for (const batch of await collect(b.epoch(e, { startStep }))) {
        batch.indices.forEach((idx, k) => {
          const img = s.images.subarray(idx * 3072, (idx + 1) * 3072);
          const got = (p: number, c: number) => Math.round(batch.x[k * 3072 + p * 3 + c]! * 255);
          let same = true;
          let mirror = true;
          for (let p = 0; p < 1024; p++) {
            const q = (p & ~31) + 31 - (p & 31);
            for (let c = 0; c < 3; c++) {
              same &&= got(p, c) === img[p * 3 + c];
              mirror &&= got(p, c) === img[q * 3 + c];
            }
          }
          expect({ idx, same, mirror }).not.toEqual({ idx, same: false, mirror: false });
          out.set(idx, mirror);
        });
      }
      return out;
    }

    it("shows every image once mirrored and once not over any two consecutive epochs", async () => {
      const b = new Cifar10Batches(s, {
        ...options,
        augment: alternatingFlip(),
        workerThread: false,
      });
      const e0 = await flips(b, 0);
      const e1 = await flips(b, 1);
      expect(e0.size).toBe(40);
      expect(e1.size).toBe(40);
      for (const [idx, f] of e0) expect({ idx, epoch1: e1.get(idx) }).toEqual({ idx, epoch1: !f });
      const count = [...e0.values()].filter(Boolean).length;
      expect(count).toBeGreaterThan(8);
      expect(count).toBeLessThan(32);
      // And on: epoch 2 is epoch 0 again, epoch 3 is epoch 1.
      expect(await flips(b, 2)).toEqual(e0);
      expect(await flips(b, 3)).toEqual(e1);
    });

    it("draws the same coins for the same seed and others for another", async () => {
      const flipsOf = async (seed: number) =>
        flips(
          new Cifar10Batches(s, {
            ...options,
            seed,
            augment: alternatingFlip(),
            workerThread: false,
          }),
          0,
        );
      const a = await flipsOf(5);
      expect(await flipsOf(5)).toEqual(a);
      expect(await flipsOf(6)).not.toEqual(a);
    });

    it("with translate-2-reflect, gives the same bytes in the worker, on the main thread and after a resume", async () => {
      const recipe = {
        ...options,
        augment: [alternatingFlip(), randomCrop({ padding: 2, paddingMode: "reflect" as const })],
      };
      const threaded = new Cifar10Batches(s, recipe);
      expect(threaded.preparation.where).toBe("worker-thread");
      const main = new Cifar10Batches(s, { ...recipe, workerThread: false });
      try {
        for (const e of [0, 1]) {
          const viaWorker = await collect(threaded.epoch(e));
          expect(threaded.preparation.where).toBe("worker-thread");
          const viaMain = await collect(main.epoch(e));
          expect(viaWorker.map((b) => b.indices)).toEqual(viaMain.map((b) => b.indices));
          expect(viaWorker.map((b) => [...b.x])).toEqual(viaMain.map((b) => [...b.x]));
          // A restarted run (fresh objects) resuming at step 3 of 7, in the worker and not.
          for (const workerThread of [true, false]) {
            const fresh = new Cifar10Batches(s, { ...recipe, workerThread });
            const resumed = await collect(fresh.epoch(e, { startStep: 3 }));
            await fresh.close();
            expect(resumed.map((b) => b.step)).toEqual([3, 4, 5, 6]);
            expect(resumed.map((b) => b.indices)).toEqual(viaMain.slice(3).map((b) => b.indices));
            expect(resumed.map((b) => [...b.x])).toEqual(viaMain.slice(3).map((b) => [...b.x]));
          }
        }
      } finally {
        await threaded.close();
      }
    });
  });

  it("on the main thread, prepares batch k+1 while the caller's step awaits", async () => {
    const b = new Cifar10Batches(split(12), { batchSize: 4, workerThread: false });
    expect(b.preparation).toEqual({ where: "main-thread", reason: "workerThread: false" });
    const epoch = b.epoch(0);
    const first = (await epoch.next()).value as Cifar10Batch;
    expect(epoch.prepared).toBe(1);
    // The caller "trains" (yields to the event loop, as an async backend step does)…
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    // …and batch 1 was built in the meantime, before anyone asked for it.
    expect(epoch.prepared).toBe(2);
    tf.dispose([first.x, first.y]);
    for await (const rest of epoch) tf.dispose([rest.x, rest.y]);
    expect(epoch.prepared).toBe(3);
  });

  it("in a worker thread, asks for batch k+1 when handing out batch k, with identical bytes", async () => {
    const s = split(40);
    for (let i = 0; i < s.images.length; i++) s.images[i] = (i * 13) % 256;
    const options = {
      batchSize: 8,
      seed: 4,
      augment: [randomCrop({ paddingMode: "reflect" as const }), horizontalFlip()],
    };
    const threaded = new Cifar10Batches(s, options);
    expect(threaded.preparation.where).toBe("worker-thread");
    const epoch = threaded.epoch(1);
    const first = (await epoch.next()).value as Cifar10Batch;
    // Batch 1 is already in the worker's hands before the caller's step even starts.
    expect(epoch.requested).toBe(2);
    tf.dispose([first.x, first.y]);
    await epoch.return();
    const viaWorker = await collect(threaded.epoch(1));
    expect(threaded.preparation.where).toBe("worker-thread");
    const viaMain = await collect(
      new Cifar10Batches(s, { ...options, workerThread: false }).epoch(1),
    );
    expect(viaWorker.map((b) => [...b.x])).toEqual(viaMain.map((b) => [...b.x]));
    expect(viaWorker.map((b) => b.indices)).toEqual(viaMain.map((b) => b.indices));
    // After close() the same object keeps working, on the main thread.
    await threaded.close();
    expect(threaded.preparation).toEqual({ where: "main-thread", reason: "closed" });
    const afterClose = await collect(threaded.epoch(1));
    expect(afterClose.map((b) => [...b.x])).toEqual(viaMain.map((b) => [...b.x]));
  });

  it("lets the process exit without close(), even with a prefetch in flight", () => {
    const script = fileURLToPath(new URL("../test/exit-without-close.ts", import.meta.url));
    const child = spawnSync(
      process.execPath,
      ["--conditions=@cnnkit/source", "--import", "tsx", script],
      {
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(child.stdout).toContain("got 2 via worker-thread");
    expect(child.status).toBe(0);
  });

  it("settles close() awaited at a script's top level, the worker idle and unref'd", () => {
    const script = fileURLToPath(new URL("../test/exit-without-close.ts", import.meta.url));
    const child = spawnSync(
      process.execPath,
      ["--conditions=@cnnkit/source", "--import", "tsx", script, "close"],
      {
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(child.stdout).toContain("got 2 via worker-thread");
    expect(child.stdout).toContain("closed: closed");
    expect(child.status).toBe(0);
  });

  it("falls back to the main thread when the worker fails, with the same bytes and the reason", async () => {
    const flip = horizontalFlip({ probability: 1 });
    // A spec the worker cannot rebuild: it dies at start-up; the main thread has the real apply.
    const broken = { ...flip, spec: { kind: "mirror" } as never };
    const s = split(6);
    for (let i = 0; i < s.images.length; i++) s.images[i] = (i * 11) % 256;
    const b = new Cifar10Batches(s, { batchSize: 3, shuffle: false, augment: broken });
    const viaFallback = await collect(b.epoch(0));
    expect(b.preparation.where).toBe("main-thread");
    expect(b.preparation.reason).toMatch(
      /^worker failed: augmentation spec: expected kind randomCrop, horizontalFlip, alternatingFlip, cutout or compose, got "mirror"/,
    );
    const flipped = await collect(
      new Cifar10Batches(s, {
        batchSize: 3,
        shuffle: false,
        augment: flip,
        workerThread: false,
      }).epoch(0),
    );
    const unflipped = await collect(
      new Cifar10Batches(s, { batchSize: 3, shuffle: false, workerThread: false }).epoch(0),
    );
    expect(viaFallback.map((x) => [...x.x])).toEqual(flipped.map((x) => [...x.x]));
    expect(viaFallback.map((x) => [...x.x])).not.toEqual(unflipped.map((x) => [...x.x]));
  });

  it("keeps custom augmentations on the main thread and says why", async () => {
    const invert = {
      name: "invert",
      apply(src: Uint8Array, dst: Uint8Array) {
        for (let i = 0; i < src.length; i++) dst[i] = 255 - src[i]!;
      },
    };
    const b = new Cifar10Batches(split(4), {
      batchSize: 4,
      shuffle: false,
      augment: [horizontalFlip(), invert],
    });
    expect(b.preparation).toEqual({
      where: "main-thread",
      reason:
        "augmentation compose(horizontalFlip(p=0.5), invert) is not a built-in one (no spec to send to a thread)",
    });
    const [batch] = await collect(b.epoch(0));
    // Image 3 is all 3s; inverted: 252 (the flip does not change a flat image).
    expect(batch!.x[3 * 3072]).toBeCloseTo((252 / 255 - 0.4914) / 0.247, 5);
  });

  it("leaks no tensor over an epoch, nor when the loop breaks early", async () => {
    const b = new Cifar10Batches(split(10), { batchSize: 3, augment: randomCrop(), oneHot: true });
    const before = tf.memory().numTensors;
    for await (const { x, y } of b.epoch(0)) {
      tf.tidy(() => {
        tf.add(tf.mean(x), tf.sum(y));
      });
      tf.dispose([x, y]);
    }
    expect(tf.memory().numTensors).toBe(before);
    for await (const { x, y } of b.epoch(1)) {
      tf.dispose([x, y]);
      break;
    }
    await new Promise((r) => setImmediate(r));
    expect(tf.memory().numTensors).toBe(before);
  });

  it("rejects bad options and splits with messages naming them", () => {
    expect(() => new Cifar10Batches(split(4), { batchSize: 0 })).toThrow(
      "batchSize: expected a positive integer, got 0",
    );
    expect(() => new Cifar10Batches(split(4), { batchSize: 8, dropLast: true })).toThrow(
      /batchSize: expected at most 4 .* got 8: an epoch would have no batch/,
    );
    expect(
      () =>
        new Cifar10Batches(split(4), { normalize: { mean: [125, 123, 114], std: [63, 62, 66] } }),
    ).toThrow(
      /normalize.mean: expected values on the \[0, 1\] pixel scale, got \[125,123,114\] \(0–255 scale\?\)/,
    );
    expect(() => new Cifar10Batches({ ...split(4), length: 5 })).toThrow(
      /invalid|expected a split of N images/,
    );
    const b = new Cifar10Batches(split(4), { batchSize: 2 });
    expect(() => b.epoch(-1)).toThrow("epoch: expected a non-negative integer, got -1");
    expect(() => b.epoch(0, { startStep: 3 })).toThrow(
      "startStep: expected an integer in [0, 2], got 3",
    );
  });
});
