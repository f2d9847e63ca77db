// The optimizers on a backend that can only be read asynchronously (as WebGPU in Node): the
// finite check and clipping read with `await`, applyGradients then reads nothing, and without
// the check it refuses in one line instead of failing inside tfjs. The numbers equal cpu's.
import "@tensorflow/tfjs-backend-cpu";
import { useAsyncOnlyBackend } from "@cnnkit/vitest-config/async-only-backend";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  AdamW,
  checkFiniteGradients,
  clipByGlobalNorm,
  clipByGlobalNormAsync,
  isHostMemoryBackend,
  Lookahead,
  OptimError,
  SGD,
  WeightEMA,
} from "./index.js";

afterEach(async () => {
  tf.disposeVariables();
  await tf.setBackend("cpu");
});

const OPTIMIZERS: [string, () => tf.Optimizer][] = [
  ["SGD", () => new SGD({ learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
  ["AdamW", () => new AdamW({ learningRate: 0.1, weightDecay: 0.01 })],
];

/** Two steps of `make()` on two variables; returns their values (read asynchronously). */
async function twoSteps(make: () => tf.Optimizer, check: boolean, clip: number | null) {
  const a = tf.variable(tf.tensor1d([1, -2, 3]), true, "ar/a");
  const b = tf.variable(tf.tensor2d([[4, 5]]), true, "ar/b");
  const optimizer = make();
  for (const scale of [1, -3]) {
    const grads = {
      "ar/a": tf.mul(tf.tensor1d([0.5, 1, -2]), scale),
      "ar/b": tf.mul(tf.tensor2d([[3, -1]]), scale),
    };
    const applied = clip === null ? grads : (await clipByGlobalNormAsync(grads, clip)).grads;
    if (check) await checkFiniteGradients(applied);
    optimizer.applyGradients(applied);
    tf.dispose([...Object.values(grads), ...(clip === null ? [] : Object.values(applied))]);
  }
  const values = [Array.from(await a.data()), Array.from(await b.data())];
  optimizer.dispose();
  tf.disposeVariables();
  return values;
}

describe("on a backend read only asynchronously", () => {
  it("is not a host-memory backend; cpu, wasm and tensorflow are", async () => {
    await useAsyncOnlyBackend(tf);
    expect(isHostMemoryBackend()).toBe(false);
    expect(isHostMemoryBackend("cpu")).toBe(true);
    expect(isHostMemoryBackend("wasm")).toBe(true);
    expect(isHostMemoryBackend("webgpu")).toBe(false);
    // The double really refuses synchronous reads.
    expect(() => tf.scalar(1).dataSync()).toThrow(/synchronous read/);
  });

  for (const [name, make] of OPTIMIZERS) {
    for (const clip of [null, 1]) {
      it(`${name}${clip === null ? "" : " with clipping"}: checked with await, steps as on cpu`, async () => {
        const onCpu = await twoSteps(make, false, clip);
        await useAsyncOnlyBackend(tf);
        const onDevice = await twoSteps(make, clip === null, clip);
        expect(onDevice).toEqual(onCpu);
      });
    }

    it(`${name}: applyGradients without the check refuses in one line, changing nothing`, async () => {
      await useAsyncOnlyBackend(tf);
      const a = tf.variable(tf.tensor1d([1, 2]), true, "ar/c");
      const optimizer = make();
      const g = tf.tensor1d([1, 1]);
      let error: unknown;
      try {
        optimizer.applyGradients({ "ar/c": g });
      } catch (e) {
        error = e;
      }
      expect(OptimError.isInstance(error) && error.code).toBe("needs_async_check");
      expect((error as Error).message).toMatch(
        /async-only backend cannot read the gradients synchronously.*await checkFiniteGradients\(grads\)/,
      );
      expect(Array.from(await a.data())).toEqual([1, 2]);
      expect(optimizer.iterations).toBe(0);
      g.dispose();
    });
  }

  it("checkFiniteGradients names every gradient holding NaN or Infinity, on both kinds of backend", async () => {
    for (const backend of ["cpu", "async-only"]) {
      if (backend === "cpu") await tf.setBackend("cpu");
      else await useAsyncOnlyBackend(tf);
      const grads = {
        good: tf.tensor1d([1, 2]),
        nan: tf.tensor1d([1, Number.NaN]),
        inf: tf.tensor2d([[Number.NEGATIVE_INFINITY]]),
      };
      await expect(checkFiniteGradients(grads)).rejects.toThrow(
        /gradient of "nan", "inf"; nothing was applied/,
      );
      // Finite ones pass, as a list too, and leave no tensors.
      const before = tf.memory().numTensors;
      await checkFiniteGradients([grads.good]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(Object.values(grads));
    }
  });

  it("clipByGlobalNormAsync equals clipByGlobalNorm, and refuses a non-finite norm the same way", async () => {
    const grads = [tf.tensor1d([3, 4]), tf.tensor2d([[12]])];
    const sync = clipByGlobalNorm(grads, 1);
    const asyncResult = await clipByGlobalNormAsync(grads, 1);
    expect(asyncResult.totalNorm).toBe(sync.totalNorm);
    expect(asyncResult.clipped).toBe(true);
    for (let i = 0; i < grads.length; i++) {
      expect(Array.from(await asyncResult.grads[i]!.data())).toEqual(
        Array.from(await sync.grads[i]!.data()),
      );
    }
    tf.dispose([...sync.grads, ...asyncResult.grads]);
    await useAsyncOnlyBackend(tf);
    const badHere = { w: tf.tensor1d([1, Number.NaN]) };
    await expect(clipByGlobalNormAsync(badHere, 1)).rejects.toThrow(
      /non-finite norm in "w"\); refusing/,
    );
    expect(await clipByGlobalNormAsync({}, 1)).toEqual({ grads: {}, totalNorm: 0, clipped: false });
    tf.dispose([...grads, badHere.w]);
  });

  it("Lookahead and WeightEMA step without a synchronous read", async () => {
    await useAsyncOnlyBackend(tf);
    const w = tf.variable(tf.tensor1d([1, 2]), true, "ar/w");
    const ema = new WeightEMA([w], { decay: 0.5 });
    const lookahead = new Lookahead([w], { totalSteps: 10 });
    for (const value of [3, 5, 7, 9, 11]) {
      w.assign(tf.tensor1d([value, value + 1]));
      ema.update();
      lookahead.step();
    }
    // 0.5-decay EMA of 1, 3, 5, 7, 9, 11: 9.0625; the fifth Lookahead step moved w somewhere
    // between its average and 11. Both were computed and read without dataSync.
    expect(Array.from(await ema.getWeights()[0]!.tensor.data())).toEqual([9.0625, 10.0625]);
    const [moved] = Array.from(await w.data());
    expect(moved).toBeLessThan(11);
    expect(moved).toBeGreaterThan(1);
    ema.dispose();
    lookahead.dispose();
  });
});
