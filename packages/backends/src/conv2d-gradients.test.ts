import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type GradCase,
  type GradResult,
  gradErrors,
  relativeError,
  runGradKernels,
  SMALL_CASES,
} from "../test/conv-check.js";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

/** The tolerance the issue asks for: 1e-4 relative to the cpu reference kernels. */
const RTOL = 1e-4;

const references = new Map<string, GradResult>();

describe.each(["cpu", "wasm"] as const)("training kernels on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { trainingKernels: false });
    registerTrainingKernels();
  });
  afterAll(() => unregisterTrainingKernels());

  // Every ResNet conv shape: test/all-shapes.test.ts (on CI).
  it.each(SMALL_CASES.map((c) => [c.name, c] as const))(
    "%s equals the cpu reference to 1e-4",
    (_name, c) => {
      const errors = gradErrors(c, references);
      expect(errors.dFilter).toBeLessThan(RTOL);
      expect(errors.dInput).toBeLessThan(RTOL);
    },
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
