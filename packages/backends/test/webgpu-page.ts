// The WebGPU checks as a web page sees them, bundled by test/webgpu-browser.test.ts and run in
// headless Chromium on its SwiftShader adapter: useBackend's choice, every conv kernel a ResNet
// trains with against tfjs's cpu reference kernels, MaxPool's and GELU's gradients, and short
// training runs of SmallResNet and the fast recipe's net against the same runs on cpu. The page
// reports numbers; the test judges them.
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-webgpu";
import { fastResNet, gelu, smallResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { registerTrainingKernels, unregisterTrainingKernels } from "../src/index.js";
import { useBackend } from "../src/use-backend.js";
import { classifierStep } from "./classifier-step.js";
import {
  type GradCase,
  referenceForward,
  referenceGrads,
  relativeError,
  runForwardAsync,
  runGradKernelsAsync,
  seededValues,
} from "./conv-check.js";

/** What the browser's own WebGPU offers, asked directly (not through useBackend). */
async function probe(): Promise<{ adapter: Record<string, unknown> | null; why?: string }> {
  type Gpu = { requestAdapter(): Promise<{ info: object } | null> };
  const gpu = (globalThis as { navigator?: { gpu?: Gpu } }).navigator?.gpu;
  if (!gpu) return { adapter: null, why: "navigator.gpu is undefined" };
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { adapter: null, why: "navigator.gpu.requestAdapter() gave null" };
  const { vendor, architecture, device, description, isFallbackAdapter } = adapter.info as Record<
    string,
    unknown
  >;
  return { adapter: { vendor, architecture, device, description, isFallbackAdapter } };
}

/** `useBackend('auto')` (which must not take a software adapter), then the explicit choice. */
async function select() {
  const auto = await useBackend("auto", { onnxruntime: false });
  const webgpu = await useBackend("webgpu", { allowSoftwareAdapter: true });
  return {
    auto: { backend: auto.backend, tried: auto.tried },
    webgpu: { backend: webgpu.backend, reason: webgpu.reason },
  };
}

/** One conv shape: both gradients, the forward conv and the fused conv on webgpu, against cpu's. */
async function checkConv(c: GradCase) {
  const t0 = performance.now();
  const grads = referenceGrads(c);
  const forward = referenceForward(c);
  const t1 = performance.now();
  const actualGrads = await runGradKernelsAsync(c);
  const actualForward = await runForwardAsync(c);
  return {
    backend: tf.getBackend(),
    dFilter: relativeError(actualGrads.dFilter, grads.dFilter),
    dInput: relativeError(actualGrads.dInput, grads.dInput),
    conv2d: relativeError(actualForward.plain, forward.plain),
    fusedConv2d: relativeError(actualForward.fused, forward.fused),
    referenceMs: t1 - t0,
    webgpuMs: performance.now() - t1,
  };
}

/** `f`'s result on the cpu backend with tfjs's own kernels, then on webgpu. */
async function onCpuThenWebGPU<T>(f: () => Promise<T>): Promise<{ cpu: T; webgpu: T }> {
  await tf.setBackend("cpu");
  unregisterTrainingKernels();
  try {
    const cpu = await f();
    await tf.setBackend("webgpu");
    return { cpu, webgpu: await f() };
  } finally {
    registerTrainingKernels();
    await tf.setBackend("webgpu");
  }
}

/**
 * MaxPoolGrad on fastResNet's pools (2x2/2 at 31, 15 and 7 pixels, 3x3/3 at 3) at its default
 * widths, batch 2, with inputs shifted below zero (the windows tfjs-backend-wasm's own kernel
 * loses; see src/max-pool-grad.ts) and no ties, so every backend must route dy alike.
 */
async function maxPoolGrad() {
  const pools = [
    { size: 31, channels: 64, k: 2 },
    { size: 15, channels: 256, k: 2 },
    { size: 7, channels: 256, k: 2 },
    { size: 3, channels: 256, k: 3 },
  ];
  const run = () =>
    Promise.all(
      pools.map(async ({ size, channels, k }, i) => {
        const dx = tf.tidy(() => {
          const x = tf.sub(
            tf.tensor4d(seededValues(2 * size * size * channels, 31 + i), [
              2,
              size,
              size,
              channels,
            ]),
            2,
          );
          const pool = (v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, k, k, "valid");
          return tf.grad((v: tf.Tensor) => tf.sum(tf.mul(pool(v), 3)))(x);
        });
        const values = (await dx.data()) as Float32Array;
        dx.dispose();
        return values;
      }),
    );
  const { cpu, webgpu } = await onCpuThenWebGPU(run);
  return pools.map((p, i) => ({
    ...p,
    // The elementwise error; with no ties the values must be equal.
    error: relativeError(webgpu[i] as Float32Array, cpu[i] as Float32Array),
    nonZero: (cpu[i] as Float32Array).filter((v) => v !== 0).length,
  }));
}

/** `@cnnkit/resnet`'s GELU (tfjs-layers' composition, with Erf) and its gradient on 4,001 points. */
async function geluValues() {
  const run = async () => {
    const [y, dy] = tf.tidy(() => {
      // Not tf.linspace: backends accumulate its steps differently (1e-4 apart at the end).
      const x = tf.tensor1d(Float32Array.from({ length: 4001 }, (_, i) => -10 + i / 200));
      return [gelu(x), tf.grad((v: tf.Tensor) => tf.sum(gelu(v)))(x)];
    });
    const out = { y: (await y!.data()) as Float32Array, dy: (await dy!.data()) as Float32Array };
    tf.dispose([y!, dy!]);
    return out;
  };
  const { cpu, webgpu } = await onCpuThenWebGPU(run);
  return {
    y: relativeError(webgpu.y, cpu.y),
    dy: relativeError(webgpu.dy, cpu.dy),
  };
}

interface Curve {
  losses: number[];
  kernels: string[];
  tensorsAfterFirstStep: number;
  tensorsAtEnd: number;
}

/**
 * `steps` training steps on one fixed batch of the model `build` makes, on the active backend;
 * the losses and the first step's kernels.
 */
async function curve(
  build: () => tfl.LayersModel,
  optimizer: tf.Optimizer,
  batch: number,
  steps: number,
  labelSmoothing: number,
): Promise<Curve> {
  const model = build();
  const xs = tf.tensor4d(seededValues(batch * 32 * 32 * 3, 21), [batch, 32, 32, 3]);
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: batch }, (_, i) => i % 10),
      "int32",
    ),
    10,
  );
  const step = () => classifierStep(model, xs, labels, optimizer, labelSmoothing);
  const losses: number[] = [];
  let first: tf.Scalar | undefined;
  const { kernelNames } = await tf.profile(() => {
    first = step();
  });
  losses.push((await first!.data())[0] as number);
  first!.dispose();
  const tensorsAfterFirstStep = tf.memory().numTensors;
  for (let i = 1; i < steps; i++) {
    const loss = step();
    losses.push((await loss.data())[0] as number);
    loss.dispose();
  }
  const tensorsAtEnd = tf.memory().numTensors;
  optimizer.dispose();
  model.dispose();
  tf.dispose([xs, labels]);
  return { losses, kernels: kernelNames, tensorsAfterFirstStep, tensorsAtEnd };
}

/**
 * The two nets the trainer trains, small: SmallResNet (8/16/32: BatchNorm, ReLU) with Adam, and
 * fastResNet (8/16/16: the whitening stem, MaxPool, GELU, BatchNorm) with Nesterov momentum and
 * label smoothing 0.2, each on cpu (tfjs's own kernels) and on webgpu, from the same weights.
 * tfjs's optimizers, not @cnnkit/optim's: theirs check the gradients with a synchronous read.
 */
async function training(steps: number) {
  const batch = 4;
  const small = await onCpuThenWebGPU(() =>
    curve(
      () => smallResNet({ widths: [8, 16, 32], seed: 3 }),
      tf.train.adam(3e-3),
      batch,
      steps,
      0,
    ),
  );
  const fast = await onCpuThenWebGPU(() =>
    curve(
      () => fastResNet({ widths: [8, 16, 16], seed: 5 }),
      tf.train.momentum(0.05, 0.85, true),
      batch,
      steps,
      0.2,
    ),
  );
  return { small, fast };
}

Object.assign(globalThis, {
  webgpuChecks: { probe, select, checkConv, maxPoolGrad, gelu: geluValues, training },
});
