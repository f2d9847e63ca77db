import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type GradCase,
  type GradResult,
  referenceGrads,
  relativeError,
  runGradKernels,
} from "../test/conv-check.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { type ConvShape as ResnetConvShape, resnetConvShapes } from "./resnet-conv-shapes.js";
import { useBackend } from "./use-backend.js";

/** The tolerance the issue asks for: 1e-4 relative to the cpu reference kernels. */
const RTOL = 1e-4;

const SMALL: GradCase[] = [
  {
    name: "3x3 s1 same",
    inputShape: [2, 6, 6, 3],
    filterShape: [3, 3, 3, 4],
    stride: 1,
    pad: "same",
  },
  {
    name: "3x3 s1 valid",
    inputShape: [2, 7, 5, 3],
    filterShape: [3, 3, 3, 2],
    stride: 1,
    pad: "valid",
  },
  {
    name: "3x3 s2 same, even",
    inputShape: [2, 8, 8, 4],
    filterShape: [3, 3, 4, 5],
    stride: 2,
    pad: "same",
  },
  {
    name: "3x3 s2 same, odd",
    inputShape: [1, 7, 9, 2],
    filterShape: [3, 3, 2, 3],
    stride: 2,
    pad: "same",
  },
  {
    name: "3x3 s2 valid, odd",
    inputShape: [2, 9, 7, 3],
    filterShape: [3, 3, 3, 2],
    stride: 2,
    pad: "valid",
  },
  {
    name: "1x1 s1 same",
    inputShape: [2, 5, 5, 4],
    filterShape: [1, 1, 4, 6],
    stride: 1,
    pad: "same",
  },
  {
    name: "1x1 s2 same",
    inputShape: [2, 8, 8, 4],
    filterShape: [1, 1, 4, 8],
    stride: 2,
    pad: "same",
  },
  {
    name: "1x1 s2 valid, odd",
    inputShape: [1, 7, 7, 3],
    filterShape: [1, 1, 3, 5],
    stride: 2,
    pad: "valid",
  },
  {
    name: "2x3 s[2,1] pad 1",
    inputShape: [2, 6, 5, 2],
    filterShape: [2, 3, 2, 3],
    stride: [2, 1],
    pad: 1,
  },
  {
    name: "3x3 s1 explicit pad larger than k-1",
    inputShape: [1, 4, 4, 2],
    filterShape: [3, 3, 2, 2],
    stride: 1,
    pad: [
      [0, 0],
      [3, 1],
      [0, 2],
      [0, 0],
    ],
  },
  // The smallest real ResNet layers, batch 1 and 4.
  {
    name: "stem 3->16 @32",
    inputShape: [1, 32, 32, 3],
    filterShape: [3, 3, 3, 16],
    stride: 1,
    pad: "same",
  },
  {
    name: "3x3 s2 16->32 @32",
    inputShape: [4, 32, 32, 16],
    filterShape: [3, 3, 16, 32],
    stride: 2,
    pad: "same",
  },
];

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

  it.each([...SMALL, ...FULL].map((c) => [c.name, c] as const))(
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
    const c = SMALL[2] as GradCase;
    runGradKernels(c); // warm-up: lazily created backend state is not a leak
    const tensors = tf.memory().numTensors;
    const dataIds = tf.engine().backend.numDataIds();
    runGradKernels(c);
    runGradKernels(SMALL[7] as GradCase);
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
