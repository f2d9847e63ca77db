import { useBackend } from "@cnnkit/backends";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { tinyBatch, tinyModel } from "../test/tiny.js";
import { classifierGradients, trainableVariables } from "./classifier-gradients.js";
import { type DataParallel, dataParallelStep } from "./data-parallel.js";
import { DynamicLossScaler } from "./dynamic-loss-scaler.js";
import { underflowFraction } from "./emulated-float16.js";
import { FLOAT16_MIN_SUBNORMAL } from "./round-to-half.js";
import { NonFiniteLossError, trainStep } from "./train-step.js";

beforeAll(() => useBackend("cpu", { threads: 1, onnxruntime: false }));

/**
 * A dense 4 → 3 classifier with every weight 1 (so the softmax starts uniform) and a batch of two
 * rows of 2⁻²⁴ labelled 0 and 1: dL/dlogits is ±1/6 or 1/3 per element, so the bias gradient is
 * (−1/6, −1/6, 1/3) and the kernel gradient 2⁻²⁴ times that, about 1e-8 to 2e-8: below 2⁻²⁵, the
 * half of float16's smallest subnormal, so it flushes to zero unless the loss is scaled.
 */
function smallGradients(kernelValue = 1) {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({
        inputShape: [4],
        units: 3,
        kernelInitializer: tfl.initializers.constant({ value: kernelValue }),
        biasInitializer: "zeros",
      }),
    ],
  });
  const [kernel, bias] = trainableVariables(model) as [tf.Variable, tf.Variable];
  const x = tf.fill([2, 4], FLOAT16_MIN_SUBNORMAL) as tf.Tensor2D;
  const y = tf.tensor1d([0, 1], "int32");
  const dispose = () => {
    tf.dispose([x, y]);
    model.dispose();
  };
  return { model, kernel, bias, x: x as unknown as tf.Tensor4D, y, dispose };
}

const values = (t: tf.Tensor) => Array.from(t.dataSync());

describe("trainStep with float16 (emulated)", () => {
  it("without loss scaling the small gradients flush to zero; a loss scale of 2^16 keeps them", async () => {
    const { model, kernel, bias, x, y, dispose } = smallGradients();
    const reference = classifierGradients(model, x, y);
    const want = values(reference.grads[kernel.name]!);
    tf.dispose([reference.value, reference.correct, ...Object.values(reference.grads)]);
    expect(Math.max(...want.map(Math.abs))).toBeLessThan(FLOAT16_MIN_SUBNORMAL / 2);

    const seen: Record<string, number[]>[] = [];
    const onGradients = (grads: tf.NamedTensorMap) =>
      seen.push(Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, values(g)])));
    // A learning rate large enough for steps of about 1e-8 to move a weight of 1 in float32.
    const optimizer = tf.train.sgd(1e4);
    const unscaled = await trainStep(model, optimizer, x, y, {
      float16: { scaler: null },
      onGradients,
    });
    expect(unscaled.float16?.lossScale).toBe(1);
    expect(unscaled.float16?.weightGradients[kernel.name]).toEqual({ nonzero: 12, flushed: 12 });
    expect(unscaled.float16?.weightGradients[bias.name]).toEqual({ nonzero: 3, flushed: 0 });
    expect(seen[0]![kernel.name]!.every((g) => g === 0)).toBe(true);
    expect(values(kernel)).toEqual(Array(12).fill(1)); // the kernel did not learn
    expect(values(bias)).not.toEqual([0, 0, 0]); // the bias did

    dispose();

    const fresh = smallGradients();
    const scaler = new DynamicLossScaler();
    const scaled = await trainStep(fresh.model, tf.train.sgd(1e4), fresh.x, fresh.y, {
      float16: { scaler },
      onGradients,
    });
    expect(scaled.float16).toMatchObject({ lossScale: 65536, skipped: false });
    expect(scaled.float16?.weightGradients[fresh.kernel.name]).toEqual({ nonzero: 12, flushed: 0 });
    // Unscaled in float32 after rounding the scaled gradient to half: float16's relative precision.
    const got = seen[1]![fresh.kernel.name]!;
    for (const [i, g] of got.entries()) {
      expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(Math.abs(want[i]!) * 2 ** -11);
    }
    expect(values(fresh.kernel).every((w) => w !== 1)).toBe(true); // now the kernel learns
    fresh.dispose();
  });

  it("skips the update and backs off when a half gradient overflows, grows after growthInterval clean steps", async () => {
    const { model, kernel, bias, x, y, dispose } = smallGradients();
    // The largest gradient is 1/3 (at the logits and the bias): 2^17/3 fits in half, 2^18/3 is past 65,504.
    const tensors = tf.memory().numTensors;
    const scaler = new DynamicLossScaler({ initScale: 2 ** 20, growthInterval: 2 });
    const optimizer = tf.train.sgd(0.01);
    const steps: [number, boolean][] = [];
    for (let i = 0; i < 6; i++) {
      const before = [values(kernel), values(bias)];
      const r = await trainStep(model, optimizer, x, y, { float16: { scaler } });
      steps.push([r.float16!.lossScale, r.float16!.skipped]);
      if (r.float16!.skipped) {
        expect([values(kernel), values(bias)]).toEqual(before);
        expect(r.gradNorm).toBeNull();
      }
    }
    expect(steps).toEqual([
      [2 ** 20, true],
      [2 ** 19, true],
      [2 ** 18, true],
      [2 ** 17, false],
      [2 ** 17, false], // the second clean step in a row: the scale grows…
      [2 ** 18, true], // …and overflows again
    ]);
    expect(scaler.scale).toBe(2 ** 17);
    expect(optimizer.iterations).toBe(2);
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    dispose();
  });

  it("runs the forward pass on a half copy of the weights and keeps the float32 masters", async () => {
    // 1e5 is a fine float32 weight and Infinity in half: float32 trains, float16 diverges.
    const big = smallGradients(1e5);
    await expect(trainStep(big.model, tf.train.sgd(0), big.x, big.y)).resolves.toMatchObject({
      loss: expect.closeTo(Math.log(3), 5),
    });
    const scaler = new DynamicLossScaler();
    const error = await trainStep(big.model, tf.train.sgd(0), big.x, big.y, {
      float16: { scaler },
    }).catch((e) => e);
    // A forward overflow is divergence, not a loss scale to back off from.
    expect(NonFiniteLossError.isInstance(error)).toBe(true);
    expect(scaler.scale).toBe(65536);
    expect(values(big.kernel)).toEqual(Array(12).fill(1e5));
    big.dispose();

    // 1 + 2^-12 rounds to 1 in half; after a step the master still holds it (lr 0: no update).
    const fine = smallGradients(1 + 2 ** -12);
    await trainStep(fine.model, tf.train.sgd(0), fine.x, fine.y, { float16: { scaler: null } });
    expect(values(fine.kernel)).toEqual(Array(12).fill(1 + 2 ** -12));
    for (const layer of fine.model.layers) expect(Object.hasOwn(layer, "call")).toBe(false);
    fine.dispose();
  });

  it("counts the gradients each layer's output lost to underflow in a ResNet; the scaler keeps them", async () => {
    const model = tinyModel();
    const { x, y } = tinyBatch(32);
    const optimizer = tf.train.sgd(0);
    await trainStep(model, optimizer, x, y, { float16: { scaler: null } }); // warm-up
    const tensors = tf.memory().numTensors;
    const unscaled = (await trainStep(model, optimizer, x, y, { float16: { scaler: null } }))
      .float16!;
    const scaled = (
      await trainStep(model, optimizer, x, y, { float16: { scaler: new DynamicLossScaler() } })
    ).float16!;
    expect(tf.memory().numTensors).toBe(tensors);
    const layers = model.layers.filter((l) => l.getClassName() !== "InputLayer").map((l) => l.name);
    expect(Object.keys(unscaled.activationGradients)).toEqual(layers);
    expect(Object.keys(unscaled.weightGradients)).toEqual(
      trainableVariables(model).map((v) => v.name),
    );
    // A small net's gradients are mostly well above 2^-25: about 1e-4 of them flush here.
    const lost = underflowFraction(unscaled.activationGradients);
    expect(lost).toBeGreaterThan(5e-5);
    expect(underflowFraction(scaled.activationGradients)).toBeLessThan(lost / 100);
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
  });

  it("is refused by dataParallelStep (its replicas compute float32 gradients)", async () => {
    const error = await dataParallelStep(
      {} as DataParallel,
      tf.train.sgd(0),
      tf.zeros([1, 1]),
      [0],
      {
        float16: { scaler: null },
      },
    ).catch((e) => e);
    expect(error.code).toBe("invalid_option");
    expect(error.message).toMatch(/^dataParallelStep: float16:/);
  });
});
