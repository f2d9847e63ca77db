// Every conv shape of the cnnkit ResNets (src/resnet-conv-shapes.ts), on every kernel that
// trains them here, against tfjs's cpu reference kernels. Runs on CI (or with
// CNNKIT_ALL_SHAPES=1 / full; see allShapeCases in ./conv-check.ts), since the reference loops
// take minutes; the small shapes of every path run always (src/conv2d-gradients.test.ts,
// src/onnxruntime-kernels.test.ts).
import "@tensorflow/tfjs-backend-cpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  registerOnnxRuntimeKernels,
  unregisterOnnxRuntimeKernels,
} from "../src/onnxruntime/register.js";
import {
  registerTrainingKernels,
  unregisterTrainingKernels,
} from "../src/register-training-kernels.js";
import { useBackend } from "../src/use-backend.js";
import {
  allShapeCases,
  allShapesSetting,
  type ForwardResult,
  type GradResult,
  gradErrors,
  referenceForward,
  relativeError,
  runForward,
} from "./conv-check.js";

/** The tolerance of the small-shape tests: 1e-4 relative to the cpu reference kernels. */
const RTOL = 1e-4;

const setting = allShapesSetting();
const CASES = allShapeCases(setting);

/**
 * The kernels that train the ResNets here: this package's gradient kernels on cpu and on wasm
 * (2 threads: the shared-heap path), and ONNX Runtime's forward and gradient convolutions on
 * both (minChannels 1, so every shape really runs there).
 */
const KERNEL_SETS = [
  { backend: "cpu", onnxruntime: false },
  { backend: "wasm", onnxruntime: false },
  { backend: "cpu", onnxruntime: true },
  { backend: "wasm", onnxruntime: true },
] as const;

// One reference per case, computed on first use and shared by the kernel sets.
const gradReferences = new Map<string, GradResult>();
const forwardReferences = new Map<string, ForwardResult>();
let checked = 0;

describe.skipIf(CASES.length === 0)("every ResNet conv shape", () => {
  afterAll(() => {
    const batches = new Map<number, number>();
    for (const c of CASES) batches.set(c.inputShape[0], (batches.get(c.inputShape[0]) ?? 0) + 1);
    const perBatch = [...batches].map(([b, n]) => `${n} at batch ${b}`).join(", ");
    // The CI log's proof that the shapes ran (the test count alone does not say which).
    console.log(
      `all-shapes check (${setting}): ${checked} of ${CASES.length * KERNEL_SETS.length} shape x kernel-set checks passed; ${CASES.length} cases (${perBatch}) x ${KERNEL_SETS.map((k) => `${k.backend}${k.onnxruntime ? " + onnxruntime" : ""}`).join(", ")}`,
    );
  });

  describe.each(KERNEL_SETS)("$backend, onnxruntime: $onnxruntime", ({ backend, onnxruntime }) => {
    beforeAll(async () => {
      await useBackend(backend, { threads: 2, onnxruntime: false, trainingKernels: false });
      registerTrainingKernels();
      if (onnxruntime) registerOnnxRuntimeKernels({ threads: 2, minChannels: 1 });
    });
    afterAll(() => {
      unregisterOnnxRuntimeKernels();
      unregisterTrainingKernels();
    });

    it.each(CASES.map((c) => [c.name, c] as const))(
      "%s equals the cpu reference to 1e-4",
      (_name, c) => {
        // Both references on first use, in the first kernel set: computing one with the ONNX
        // Runtime kernels registered would unregister them and lose their sessions.
        const expected = forwardReferences.get(c.name) ?? referenceForward(c);
        forwardReferences.set(c.name, expected);
        const errors = gradErrors(c, gradReferences);
        expect(errors.dFilter, "dFilter").toBeLessThan(RTOL);
        expect(errors.dInput, "dInput").toBeLessThan(RTOL);
        if (onnxruntime) {
          // The forward convs are this package's only on ONNX Runtime (elsewhere the backend's own).
          const actual = runForward(c);
          expect(relativeError(actual.plain, expected.plain), "Conv2D").toBeLessThan(RTOL);
          expect(relativeError(actual.fused, expected.fused), "FusedConv2D").toBeLessThan(RTOL);
        }
        checked++;
        if (backend === KERNEL_SETS.at(-1)?.backend && onnxruntime) {
          gradReferences.delete(c.name); // the last kernel set: 224 MB of references on CI
          forwardReferences.delete(c.name);
        }
      },
      600_000,
    );
  });
});

if (CASES.length === 0) {
  it.skip("every ResNet conv shape: on CI, or with CNNKIT_ALL_SHAPES=1", () => {});
}

describe("the selection", () => {
  it("is every shape at batch 1 and larger batches on CI, and nothing locally unless asked", () => {
    expect(allShapesSetting({ CI: "true" })).toBe("ci");
    expect(allShapesSetting({ CI: "1", CNNKIT_ALL_SHAPES: "0" })).toBeNull();
    expect(allShapesSetting({})).toBeNull();
    expect(allShapesSetting({ CI: "false" })).toBeNull();
    expect(allShapesSetting({ CNNKIT_ALL_SHAPES: "1" })).toBe("ci");
    expect(allShapesSetting({ CNNKIT_ALL_SHAPES: "full" })).toBe("full");
    const ci = allShapeCases("ci");
    const once = ci.filter((c) => c.inputShape[0] === 1);
    expect(new Set(once.map((c) => c.name)).size).toBe(once.length);
    // fastResNet's whitening stem and its widest 3x3 conv are among them.
    expect(once.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        "2x2 s1 valid 3->24 @32x32 batch 1",
        "3x3 s1 same 128->384 @15x15 batch 1",
      ]),
    );
    expect(ci.length).toBeGreaterThan(once.length);
    // From 16 images on, whole blocks of them: ONNX Runtime's blocked filter-gradient plan runs.
    const blocked = ci.filter((c) => c.inputShape[0] >= 16);
    expect(blocked.every((c) => c.inputShape[0] % 16 === 0)).toBe(true);
    expect(blocked.length).toBeGreaterThan(10);
    expect(allShapeCases("full").every((c) => [1, 64].includes(c.inputShape[0]))).toBe(true);
  });
});
