import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
// tf.grads needs the gradient functions, which tfjs-core alone does not register.
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type GradCase,
  type GradResult,
  gradErrors,
  onReferenceKernels,
  outputShape,
  relativeError,
  runForward,
  runGradKernels,
  SMALL_CASES,
  seededValues,
} from "../test/conv-check.js";
import { BackendError } from "./errors.js";
import { loadOnnxRuntime } from "./onnxruntime/load.js";
import {
  ONNXRUNTIME_KERNELS,
  onnxRuntimeKernelsActive,
  registerOnnxRuntimeKernels,
  unregisterOnnxRuntimeKernels,
} from "./onnxruntime/register.js";
import { batchRuns, runLimits } from "./onnxruntime/run-graph.js";
import { activeRuntime } from "./onnxruntime/runtime.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

const RTOL = 1e-4;

// The forward cases: tfjs's numeric `pad` with unequal strides has its own output-size rule
// (covered by the fallback test below), so forward checks use the other small cases.
const FORWARD_CASES = SMALL_CASES.filter((c) => typeof c.pad !== "number");
const references = new Map<string, GradResult>();

// wasm here is multi-threaded (shared heap: the copy path); cpu tensors are passed without a copy.
describe.each(["cpu", "wasm"] as const)("onnxruntime kernels on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { threads: 2, onnxruntime: false });
    registerTrainingKernels();
    // minChannels 1: every small case below really runs on ONNX Runtime (by default, small
    // forward and input-gradient convs stay on wasm: the policy test below).
    const report = registerOnnxRuntimeKernels({ threads: 2, minChannels: 1 });
    expect(report.kernels).toEqual(
      expect.arrayContaining(ONNXRUNTIME_KERNELS.map((k) => `${k}@${backend}`)),
    );
  });
  afterAll(() => {
    unregisterOnnxRuntimeKernels();
    unregisterTrainingKernels();
  });

  // Every ResNet conv shape: test/all-shapes.test.ts (on CI).
  it.each(SMALL_CASES.map((c) => [c.name, c] as const))(
    "%s: both gradients equal the cpu reference to 1e-4",
    (_name, c) => {
      const errors = gradErrors(c, references);
      expect(errors.dFilter).toBeLessThan(RTOL);
      expect(errors.dInput).toBeLessThan(RTOL);
    },
  );

  it.each(FORWARD_CASES.map((c) => [c.name, c] as const))(
    "%s: Conv2D and FusedConv2D (bias, relu) equal the cpu reference to 1e-4",
    (_name, c) => {
      const expected = onReferenceKernels(() => runForward(c));
      const actual = runForward(c);
      expect(relativeError(actual.plain, expected.plain)).toBeLessThan(RTOL);
      expect(relativeError(actual.fused, expected.fused)).toBeLessThan(RTOL);
      // The ReLU really ran: some outputs are clamped to zero, others are not.
      expect(actual.fused.some((v) => v === 0)).toBe(true);
      expect(actual.fused.some((v) => v > 0)).toBe(true);
    },
  );

  it("trains: gradients of a conv through tf.grads match the reference kernels", () => {
    const c: GradCase = {
      name: "grads",
      inputShape: [2, 8, 8, 3],
      filterShape: [3, 3, 3, 4],
      stride: 2,
      pad: "same",
    };
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(seededValues(2 * 8 * 8 * 3, 3), c.inputShape);
        const w = tf.tensor4d(seededValues(3 * 3 * 3 * 4, 4), c.filterShape);
        const target = tf.tensor4d(seededValues(2 * 4 * 4 * 4, 5), outputShape(c));
        const loss = (a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(
            tf.square(
              tf.sub(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same")), target),
            ),
          );
        const [dx, dw] = tf.grads(loss)([x, w]);
        return [dx?.dataSync() as Float32Array, dw?.dataSync() as Float32Array];
      });
    const [ex, ew] = onReferenceKernels(run);
    const [ax, aw] = run();
    expect(relativeError(ax as Float32Array, ex as Float32Array)).toBeLessThan(RTOL);
    expect(relativeError(aw as Float32Array, ew as Float32Array)).toBeLessThan(RTOL);
  });

  it("writes outputs above runLimits.splitAboveBytes in runs over the batch, as one run would", () => {
    // 5 images in runs of two images' worth of the larger output: 2, 2 and 1 (or 3 and 2 for
    // the smaller one): forward (plain and fused) and the input gradient, stride 1 and 2; the
    // filter gradient's output is never split.
    const cases: GradCase[] = [
      {
        name: "split s1",
        inputShape: [5, 6, 6, 4],
        filterShape: [3, 3, 4, 8],
        stride: 1,
        pad: "same",
      },
      {
        name: "split s2",
        inputShape: [5, 8, 8, 4],
        filterShape: [3, 3, 4, 8],
        stride: 2,
        pad: "same",
      },
    ];
    const whole = cases.map((c) => ({ fwd: runForward(c), grads: runGradKernels(c) }));
    const saved = { ...runLimits };
    runLimits.splitAboveBytes = 0;
    try {
      cases.forEach((c, i) => {
        const [n, h, w] = c.inputShape;
        // Two images' worth of the larger output (the input gradient's, or the forward's).
        const perImage = Math.max(
          h * w * c.filterShape[2],
          outputShape(c)[1] ** 2 * c.filterShape[3],
        );
        runLimits.runBytes = 2 * perImage * 4;
        expect(n).toBe(5);
        const fwd = runForward(c);
        const grads = runGradKernels(c);
        const before = whole[i] as (typeof whole)[number];
        expect(relativeError(fwd.plain, before.fwd.plain)).toBeLessThan(1e-6);
        expect(relativeError(fwd.fused, before.fwd.fused)).toBeLessThan(1e-6);
        expect(relativeError(grads.dInput, before.grads.dInput)).toBeLessThan(1e-6);
        expect(grads.dFilter).toEqual(before.grads.dFilter);
      });
      // The runs really ran: sessions for 2 and for the last 1 of 5 images.
      const keys = [...(activeRuntime()?.sessions.keys() ?? [])];
      for (const kernel of ["Conv2D", "FusedConv2D", "Conv2DBackpropInput"]) {
        expect(
          keys.filter((k) => k.startsWith(`${kernel} `) && k.endsWith("[2 of 5]")).length,
        ).toBeGreaterThan(0);
        expect(
          keys.filter((k) => k.startsWith(`${kernel} `) && k.endsWith("[1 of 5]")).length,
        ).toBeGreaterThan(0);
      }
      // (onReferenceKernels unregisters the kernels, dropping their sessions: so last.)
      const expected = onReferenceKernels(() => runForward(cases[0] as GradCase));
      expect(relativeError(runForward(cases[0] as GradCase).fused, expected.fused)).toBeLessThan(
        RTOL,
      );
    } finally {
      Object.assign(runLimits, saved);
    }
  });

  it("splits into runs of at most runLimits.runBytes, the last one smaller", () => {
    const mib = 1024 * 1024;
    expect(batchRuns(1024, 20 * mib)).toEqual([1024, 1]); // below the threshold: one run
    expect(batchRuns(1024, 94 * mib)).toEqual([22, 47]); // 94 MiB in runs of <= 2 MiB
    expect(batchRuns(3, 96 * mib)).toEqual([1, 3]); // never fewer than one image a run
  });

  it("leaks no tensors and no backend buffers", () => {
    const c = SMALL_CASES[2] as GradCase;
    runGradKernels(c);
    runForward(c);
    const tensors = tf.memory().numTensors;
    const dataIds = tf.engine().backend.numDataIds();
    runGradKernels(c);
    runForward(c);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(dataIds);
  });
});

describe("registering", () => {
  beforeAll(async () => {
    await useBackend("cpu", { onnxruntime: false });
  });

  it("is idempotent and unregistering restores the kernels it replaced", () => {
    const before = ONNXRUNTIME_KERNELS.map((k) => tf.getKernel(k, "cpu"));
    const first = registerOnnxRuntimeKernels({ threads: 1 });
    const replaced = ONNXRUNTIME_KERNELS.map((k) => tf.getKernel(k, "cpu"));
    expect(replaced).not.toContain(before[0]);
    const again = registerOnnxRuntimeKernels({ threads: 1 });
    expect(again).toEqual(first);
    expect(ONNXRUNTIME_KERNELS.map((k) => tf.getKernel(k, "cpu"))).toEqual(replaced);
    expect(onnxRuntimeKernelsActive()).toEqual({
      version: first.version,
      threads: 1,
      minChannels: 16,
      blockSize: expect.any(Number),
      memoryArena: true,
    });
    unregisterOnnxRuntimeKernels();
    expect(ONNXRUNTIME_KERNELS.map((k) => tf.getKernel(k, "cpu"))).toEqual(before);
    expect(onnxRuntimeKernelsActive()).toBeNull();
  });

  it("stays on top when registerTrainingKernels runs again", () => {
    registerTrainingKernels();
    const ort = registerOnnxRuntimeKernels({ threads: 1 });
    const top = tf.getKernel("Conv2DBackpropFilter", "cpu");
    expect(registerTrainingKernels().unchanged).toContain("Conv2DBackpropFilter@cpu");
    expect(tf.getKernel("Conv2DBackpropFilter", "cpu")).toBe(top);
    expect(ort.kernels).toContain("Conv2DBackpropFilter@cpu");
    unregisterOnnxRuntimeKernels();
    unregisterTrainingKernels();
  });

  it("falls back to the kernel underneath for what its graphs do not cover", () => {
    registerOnnxRuntimeKernels({ threads: 1 });
    try {
      // NCHW input: ONNX Runtime is not asked; the cpu kernel answers (an all-ones 3x3 filter
      // over two all-ones channels sums 4 taps x 2 in a corner, 6 x 2 on an edge).
      const x = tf.ones([1, 2, 4, 4]) as tf.Tensor4D;
      const w = tf.ones([3, 3, 2, 1]) as tf.Tensor4D;
      const nchw = tf.conv2d(x, w, 1, "same", "NCHW");
      expect(nchw.shape).toEqual([1, 1, 4, 4]);
      expect(Array.from(nchw.dataSync()).slice(0, 4)).toEqual([8, 12, 12, 8]);
      // An activation the graphs do not fuse (elu) still runs, on the kernel underneath.
      const y = tf.fused.conv2d({
        x: tf.ones([1, 4, 4, 2]) as tf.Tensor4D,
        filter: w,
        strides: 1,
        pad: "same",
        activation: "elu",
      });
      expect(Array.from(y.dataSync()).slice(0, 2)).toEqual([8, 12]);
    } finally {
      unregisterOnnxRuntimeKernels();
    }
  });

  it("on wasm, keeps small forward and input-gradient convs on wasm by default", async () => {
    await useBackend("wasm", { onnxruntime: false });
    const real = loadOnnxRuntime();
    const sessions: string[] = [];
    const counting = {
      ...real,
      createSession: () => {
        sessions.push(new Error().stack ?? "");
        return real.createSession();
      },
    };
    registerOnnxRuntimeKernels({ threads: 1, load: () => counting });
    sessions.length = 0; // the block-size probe
    try {
      const small = SMALL_CASES[0] as GradCase; // 3 -> 4 channels: below minChannels
      runForward(small);
      expect(sessions).toHaveLength(0);
      const { dInput } = runGradKernels(small);
      expect(dInput.length).toBeGreaterThan(0);
      expect(sessions).toHaveLength(1); // the filter gradient only
      const wide: GradCase = { ...small, inputShape: [1, 4, 4, 32], filterShape: [3, 3, 32, 32] };
      runForward(wide);
      expect(sessions).toHaveLength(3); // Conv2D and FusedConv2D
    } finally {
      unregisterOnnxRuntimeKernels();
      await useBackend("cpu", { onnxruntime: false });
    }
  });

  it("rejects bad options and registers nothing when onnxruntime-node cannot load", () => {
    expect(() => registerOnnxRuntimeKernels({ minChannels: 0 })).toThrow(/positive integer/);
    expect(() => registerOnnxRuntimeKernels({ threads: 0 })).toThrow(/positive integer/);
    const before = tf.getKernel("Conv2D", "cpu");
    const failing = () => {
      throw new BackendError("onnxruntime_unavailable", "onnxruntime-node: not installed");
    };
    expect(() => registerOnnxRuntimeKernels({ load: failing })).toThrow(
      /^onnxruntime-node: not installed$/,
    );
    expect(tf.getKernel("Conv2D", "cpu")).toBe(before);
    expect(onnxRuntimeKernelsActive()).toBeNull();
  });

  it("finds MLAS's NCHWc block size (x64: 8 with AVX2, 16 with AVX-512F)", () => {
    registerOnnxRuntimeKernels({ threads: 1 });
    try {
      const block = onnxRuntimeKernelsActive()?.blockSize;
      if (process.arch === "x64") expect([8, 16]).toContain(block);
      else expect([0, 8, 16]).toContain(block);
    } finally {
      unregisterOnnxRuntimeKernels();
    }
  });

  it("loads the installed onnxruntime-node and names its version", () => {
    const ort = loadOnnxRuntime();
    expect(ort.version).toMatch(/^1\.\d+\.\d+/);
  });
});

describe("useBackend", () => {
  afterAll(() => unregisterOnnxRuntimeKernels());

  it("puts the convolutions on onnxruntime by default, and says so", async () => {
    const chosen = await useBackend("cpu", { threads: 1 });
    expect(chosen.onnxruntime?.threads).toBe(1);
    expect(chosen.reason).toMatch(/convolutions on onnxruntime-node 1\.\d+\.\d+ \(1 thread\)/);
    expect(onnxRuntimeKernelsActive()).not.toBeNull();
  });

  it("leaves them off when asked", async () => {
    unregisterOnnxRuntimeKernels();
    const chosen = await useBackend("cpu", { onnxruntime: false });
    expect(chosen.onnxruntime).toBeNull();
    expect(onnxRuntimeKernelsActive()).toBeNull();
  });

  it("rejects an unknown onnxruntime option", async () => {
    await expect(useBackend("cpu", { onnxruntime: "yes" as never })).rejects.toThrow(
      /options.onnxruntime/,
    );
  });
});
