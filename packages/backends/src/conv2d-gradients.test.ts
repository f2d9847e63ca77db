import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type GradCase,
  type GradResult,
  referenceGrads,
  relativeError,
  runGradKernels,
  SMALL_CASES,
} from "../test/conv-check.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { type ConvShape as ResnetConvShape, resnetConvShapes } from "./resnet-conv-shapes.js";
import { useBackend } from "./use-backend.js";

/** The tolerance the issue asks for: 1e-4 relative to the cpu reference kernels. */
const RTOL = 1e-4;

// Every conv of every ResNet, opt-in because the cpu reference kernels are naive loops (its
// Conv2DBackpropFilter ~50x slower than its forward conv):
//   CNNKIT_ALL_SHAPES=1     every shape at batch 1, plus batch 64 for every conv as small as the
//                           narrow (16/32/64) net's (<= 160 M multiply-adds): tens of minutes;
//   CNNKIT_ALL_SHAPES=full  every shape at batch 1 and 64: hours on a 2-core machine.
const ALL = process.env.CNNKIT_ALL_SHAPES;
/** Multiply-adds of the forward conv; the narrow net's convs are all <= 151 M at batch 64. */
const macs = (s: ResnetConvShape) => {
  const [n, h, w] = s.inputShape;
  const [kh, kw, cin, cout] = s.filterShape;
  return (n * Math.ceil(h / s.stride) * Math.ceil(w / s.stride) * kh * kw * cin * cout) as number;
};
const FULL: GradCase[] =
  ALL === "1" || ALL === "full"
    ? [1, 64].flatMap((b) =>
        resnetConvShapes(b)
          .filter((s) => b === 1 || ALL === "full" || macs(s) <= 160e6)
          .map((s) => ({ ...s, name: `${s.name} batch ${b}` })),
      )
    : [];

const references = new Map<string, GradResult>();

describe.each(["cpu", "wasm"] as const)("training kernels on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { trainingKernels: false });
    registerTrainingKernels();
  });
  afterAll(() => unregisterTrainingKernels());

  it.each([...SMALL_CASES, ...FULL].map((c) => [c.name, c] as const))(
    "%s equals the cpu reference to 1e-4",
    (_name, c) => {
      // The cpu reference is slow on the full shapes; compute it once for both backends.
      const expected = references.get(c.name) ?? referenceGrads(c);
      references.set(c.name, expected);
      const actual = runGradKernels(c);
      expect(relativeError(actual.dFilter, expected.dFilter)).toBeLessThan(RTOL);
      expect(relativeError(actual.dInput, expected.dInput)).toBeLessThan(RTOL);
    },
    600_000,
  );

  it("leaks no tensors and no backend buffers", () => {
    const c = SMALL_CASES[2] as GradCase;
    runGradKernels(c); // warm-up: lazily created backend state is not a leak
    const tensors = tf.memory().numTensors;
    const dataIds = tf.engine().backend.numDataIds();
    runGradKernels(c);
    runGradKernels(SMALL_CASES[7] as GradCase);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(dataIds);
  });
});

describe("the check itself", () => {
  it("notices a wrong gradient", () => {
    const a = new Float32Array([1, 2, 3, -4]);
    const b = new Float32Array([1, 2, 3.01, -4]);
    expect(relativeError(a, a)).toBe(0);
    expect(relativeError(b, a)).toBeGreaterThan(RTOL);
    expect(relativeError(new Float32Array([Number.NaN, 2, 3, -4]), a)).toBeNaN();
  });
});
