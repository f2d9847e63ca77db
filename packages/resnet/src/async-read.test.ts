// fastResNet on a backend that can only be read asynchronously (as WebGPU in Node): building it
// (identity init included) reads nothing, and whiteningKernelAsync gives whiteningKernel's
// kernel. The weights equal those built on cpu, bit for bit.
import "@tensorflow/tfjs-backend-cpu";
import { useAsyncOnlyBackend } from "@cnnkit/vitest-config/async-only-backend";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, describe, expect, it } from "vitest";
import { fastResNet, whiteningKernel, whiteningKernelAsync } from "./index.js";

afterEach(async () => {
  await tf.setBackend("cpu");
});

const images = () => tf.randomNormal([6, 8, 8, 3], 0, 1, "float32", 7);

async function weightsOf(whitening: "sync" | "async") {
  const x = images();
  const kernel = whitening === "sync" ? whiteningKernel(x) : await whiteningKernelAsync(x);
  const model = fastResNet({ widths: [8, 16, 16], seed: 3, whitening: kernel });
  const values = await Promise.all(model.getWeights().map((w) => w.data()));
  tf.dispose([x, kernel]);
  model.dispose();
  return values.map((v) => Array.from(v));
}

describe("fastResNet on a backend read only asynchronously", () => {
  it("builds with the whitening stem and identity init, reading nothing: the weights equal cpu's", async () => {
    const onCpu = await weightsOf("sync");
    await useAsyncOnlyBackend(tf);
    const x = images();
    expect(() => whiteningKernel(x)).toThrow(/synchronous read/);
    x.dispose();
    const tensors = tf.memory().numTensors;
    const onDevice = await weightsOf("async");
    expect(tf.memory().numTensors).toBe(tensors);
    expect(onDevice).toEqual(onCpu);
  });

  it("whiteningKernelAsync refuses what whiteningKernel refuses", async () => {
    const ints = tf.zeros([2, 4, 4, 3], "int32");
    await expect(whiteningKernelAsync(ints)).rejects.toThrow(/expected a float32 NHWC tensor/);
    const nan = tf.fill([2, 4, 4, 3], Number.NaN);
    await expect(whiteningKernelAsync(nan)).rejects.toThrow(/expected finite values/);
    tf.dispose([ints, nan]);
  });
});
