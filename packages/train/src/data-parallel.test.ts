import { useBackend } from "@cnnkit/backends";
import { smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CnnkitTestScale } from "../test/scale-layer.js";
import { classifierGradients } from "./classifier-gradients.js";
import {
  AUTO_MIN_SLICE,
  autoReplicas,
  DataParallel,
  sliceSizes,
  threadsPerReplica,
} from "./data-parallel.js";

beforeAll(() => useBackend("cpu", { threads: 1, onnxruntime: false }));

describe("sliceSizes / threadsPerReplica / autoReplicas", () => {
  it("splits every row once, the first slices one larger", () => {
    expect(sliceSizes(64, 2)).toEqual([32, 32]);
    expect(sliceSizes(7, 3)).toEqual([3, 2, 2]);
    expect(sliceSizes(1, 3)).toEqual([1, 0, 0]);
  });

  it("shares the cores out, at least one thread each", () => {
    expect(threadsPerReplica(2, 2)).toBe(1);
    expect(threadsPerReplica(2, 8)).toBe(4);
    expect(threadsPerReplica(3, 2)).toBe(1);
  });

  it("gives one replica per core while each keeps 32 images, on wasm and cpu only", () => {
    expect(AUTO_MIN_SLICE).toBe(32);
    expect(autoReplicas(64, "wasm", 2)).toBe(2);
    expect(autoReplicas(64, "cpu", 8)).toBe(2);
    expect(autoReplicas(512, "wasm", 8)).toBe(8);
    expect(autoReplicas(16, "wasm", 8)).toBe(1);
    expect(autoReplicas(512, "tensorflow", 8)).toBe(1);
  });
});

const SMALL = { widths: [4, 8, 16], seed: 3 };
const model = () => smallResNet(SMALL);
/** How the workers build the same model: @cnnkit/resnet's own code, not the model's JSON. */
const build = {
  module: import.meta.resolve("@cnnkit/resnet"),
  export: "smallResNet",
  args: [SMALL],
};

/** `rows` images and labels, seeded. */
function batch(rows: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return {
    x: tf.randomNormal([rows, 32, 32, 3], 0, 1, "float32", seed),
    y: tf.tensor1d(
      Array.from({ length: rows }, (_, i) => (i * 7 + seed) % 10),
      "int32",
    ),
  };
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  const da = a.dataSync();
  const db = b.dataSync();
  let worst = 0;
  for (let i = 0; i < da.length; i++) worst = Math.max(worst, Math.abs(da[i]! - db[i]!));
  return worst;
}

describe("DataParallel", () => {
  let net: tfl.LayersModel;
  let group: DataParallel;
  beforeAll(async () => {
    net = model();
    group = await DataParallel.start(net, { replicas: 3, build });
  }, 60_000);
  afterAll(async () => {
    await group?.close();
    net?.dispose();
  });

  it("averages its slices' gradients weighted by rows, from the model's current weights", async () => {
    const sgd = tf.train.sgd(0.1);
    // 7 rows over 3 replicas: slices of 3, 2 and 2, so a plain (unweighted) mean would differ.
    for (const s of [0, 1]) {
      const { x, y } = batch(7, s);
      const tensors = tf.memory().numTensors;
      const got = await group.gradients(x, y, { labelSmoothing: 0.1 });
      // Nothing left behind but the gradients it returns.
      expect(tf.memory().numTensors).toBe(tensors + Object.keys(got.grads).length);

      // The reference: each slice on this thread's model, averaged with weights 3/7, 2/7, 2/7.
      let start = 0;
      let loss = 0;
      let correct = 0;
      const sums: Record<string, tf.Tensor> = {};
      for (const n of sliceSizes(7, 3)) {
        const part = tf.tidy(() =>
          classifierGradients(net, tf.slice(x, start, n), tf.slice(y, start, n), {
            labelSmoothing: 0.1,
          }),
        );
        loss += (n / 7) * part.value.dataSync()[0]!;
        correct += part.correct.dataSync()[0]!;
        for (const [name, g] of Object.entries(part.grads)) {
          const prev = sums[name];
          sums[name] = tf.tidy(() => (prev ? tf.add(prev, tf.mul(g, n / 7)) : tf.mul(g, n / 7)));
          prev?.dispose();
        }
        tf.dispose([part.value, part.correct, ...Object.values(part.grads)]);
        start += n;
      }
      expect(got.loss).toBeCloseTo(loss, 5);
      expect(got.correct).toBe(correct);
      expect(Object.keys(got.grads).sort()).toEqual(Object.keys(sums).sort());
      for (const [name, g] of Object.entries(sums)) {
        expect(maxAbsDiff(got.grads[name]!, g), name).toBeLessThan(1e-5);
      }
      // A step between the two calls: the second shows the workers start from the new weights.
      sgd.applyGradients(got.grads);
      tf.dispose([x, y, ...Object.values(got.grads), ...Object.values(sums)]);
    }
    sgd.dispose();
  }, 120_000);

  it("reports a diverged slice as a non-finite loss", async () => {
    // NaN pixels in the last rows only: replica 0's slice is fine, a worker's is not.
    const { x: good, y } = batch(6, 4);
    const x = tf.tidy(() => tf.concat([tf.slice(good, 0, 4), tf.fill([2, 32, 32, 3], Number.NaN)]));
    const got = await group.gradients(x, y);
    expect(got.loss).toBeNaN();
    tf.dispose([good, x, y, ...Object.values(got.grads)]);
  }, 60_000);

  it("refuses bad input with one line, before any replica works", async () => {
    const { x, y } = batch(4, 0);
    await expect(group.gradients(x, tf.slice(y, 0, 3))).rejects.toThrow(
      "DataParallel.gradients: expected float32 x of [rows, ...] (a tensor, or { values: Float32Array of rows × ... numbers, shape }) and y of [rows], rows ≥ 1; got float32 x of [4, 32, 32, 3] and y of [3]",
    );
    await expect(group.gradients(x, y, { labelSmoothing: 1 })).rejects.toMatchObject({
      code: "invalid_option",
    });
    tf.dispose([x, y]);
  });
});

describe("DataParallel.start", () => {
  it("refuses fewer than two replicas", async () => {
    const net = model();
    await expect(DataParallel.start(net, { replicas: 1 })).rejects.toMatchObject({
      code: "invalid_option",
      message: "DataParallel: replicas: expected an integer of 2 or more, got 1",
    });
    net.dispose();
  });

  it("says which replica could not start, and why", async () => {
    const net = model();
    const error = await DataParallel.start(net, {
      replicas: 2,
      build,
      setup: ["cnnkit-no-such-module"],
    }).catch((e: unknown) => e);
    if (!(error instanceof Error)) throw new Error("expected DataParallel.start to fail");
    expect((error as Error & { code?: string }).code).toBe("replica_failed");
    expect(error.message).toMatch(/^replica 1: could not start: .*cnnkit-no-such-module/);
    net.dispose();
  }, 60_000);

  it("refuses a model its JSON would rebuild with other layers, unless told how to build it", async () => {
    const net = model();
    // @cnnkit/resnet's BatchNorm and Conv2D are faster subclasses that serialise as the built-ins.
    await expect(DataParallel.start(net, { replicas: 2 })).rejects.toMatchObject({
      code: "invalid_option",
      message: expect.stringMatching(
        /^DataParallel: layer "\w+" is a \w+, which its JSON \("(Conv2D|BatchNormalization)"\) would rebuild as tfjs's \w+; pass `build`/,
      ),
    });
    const wrong = await DataParallel.start(net, {
      replicas: 2,
      build: { ...build, export: "noSuchBuilder" },
    }).catch((e: Error) => e);
    expect((wrong as Error).message).toBe(
      `replica 1: could not start: build: ${build.module} has no function export "noSuchBuilder"`,
    );
    const other = await DataParallel.start(net, {
      replicas: 2,
      build: { ...build, args: [{ ...SMALL, widths: [4, 8, 8] }] },
    }).catch((e: Error) => e);
    expect((other as Error).message).toMatch(
      /^replica 1: could not start: its model's trainable variables differ from the main thread's/,
    );
    net.dispose();
  }, 60_000);

  it("rebuilds custom layers the setup modules register, and only then", async () => {
    const input = tfl.input({ shape: [32, 32, 3] });
    const scaled = new CnnkitTestScale({}).apply(input) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(scaled) as tfl.SymbolicTensor;
    const logits = tfl.layers.dense({ units: 10 }).apply(pooled) as tfl.SymbolicTensor;
    const net = tfl.model({ inputs: input, outputs: logits });
    const without = await DataParallel.start(net, { replicas: 2 }).catch((e: Error) => e);
    expect((without as Error).message).toMatch(/^replica 1: could not start: .*CnnkitTestScale/);
    const group = await DataParallel.start(net, {
      replicas: 2,
      setup: [new URL("../test/scale-layer.ts", import.meta.url)],
    });
    try {
      const { x, y } = batch(4, 1);
      const got = await group.gradients(x, y);
      const whole = classifierGradients(net, x, y);
      // No BatchNorm here, so the replicas' average equals one model's gradients on the batch.
      for (const [name, g] of Object.entries(whole.grads)) {
        expect(maxAbsDiff(got.grads[name]!, g), name).toBeLessThan(1e-6);
      }
      tf.dispose([x, y, whole.value, whole.correct, ...Object.values(whole.grads)]);
      tf.dispose(Object.values(got.grads));
    } finally {
      await group.close();
      net.dispose();
    }
  }, 60_000);

  it("fails the call, not hangs, when a worker dies", async () => {
    const net = model();
    const doomed = await DataParallel.start(net, { replicas: 2, build });
    const { x, y } = batch(4, 0);
    try {
      // What a crashed thread looks like to the group: its worker is gone.
      await (
        doomed as unknown as { workers: { worker: { terminate(): Promise<number> } }[] }
      ).workers[0]!.worker.terminate();
      const tensors = tf.memory().numTensors;
      await expect(doomed.gradients(x, y)).rejects.toMatchObject({
        code: "replica_failed",
        message: expect.stringMatching(/^replica 1: its thread exited/),
      });
      expect(tf.memory().numTensors).toBe(tensors);
    } finally {
      await doomed.close();
      tf.dispose([x, y]);
      net.dispose();
    }
  }, 60_000);
});
