// The ONNX Runtime graphs' alternative formulations, each against the cpu reference kernels:
// every way the filter gradient samples its taps (whichever the default plan picks for a shape,
// the others stay correct), the plan each shape gets, convolutions whose channels are padded to
// whole NCHWc blocks, and the sessions with and without their memory arena.
import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type GradCase,
  type GradResult,
  gradErrors,
  onReferenceKernels,
  outputShape,
  referenceGrads,
  relativeError,
  runForward,
  seededValues,
} from "../../test/conv-check.js";
import { BackendError } from "../errors.js";
import {
  registerTrainingKernels,
  unregisterTrainingKernels,
} from "../register-training-kernels.js";
import { useBackend } from "../use-backend.js";
import { blockable } from "./blocked-conv.js";
import { type FilterGradPlan, filterGradGraph, filterGradPlan } from "./conv2d-backprop-filter.js";
import { forwardGraph } from "./forward-graph.js";
import { type Geometry, geometry } from "./geometry.js";
import {
  onnxRuntimeKernelsActive,
  registerOnnxRuntimeKernels,
  unregisterOnnxRuntimeKernels,
} from "./register.js";
import { activeRuntime, type Runtime } from "./runtime.js";
import { session } from "./session-cache.js";

const RTOL = 1e-4;

function geometryOf(c: GradCase): Geometry {
  const g = geometry(c.inputShape, c.filterShape, { strides: c.stride, pad: c.pad });
  if (g == null) throw new Error(`${c.name}: no geometry`);
  return g;
}

/** The filter gradient of `c` by `plan`'s graph, run on ONNX Runtime directly. */
function filterGradByPlan(c: GradCase, plan: FilterGradPlan): Float32Array {
  const { ort } = activeRuntime() as Runtime;
  const g = geometryOf(c);
  const name =
    plan.mode === "pixel-major"
      ? "pixel"
      : plan.mode === "blocked"
        ? `blocked${plan.block}x${plan.interleave ?? 1}`
        : `g${plan.groups}`;
  const s = session(`test ${c.name} ${name}`, () => filterGradGraph(g, plan));
  const dw = new Float32Array(tf.util.sizeFromShape(c.filterShape));
  s.session.run(
    {
      x: new ort.Tensor(
        "float32",
        seededValues(tf.util.sizeFromShape(c.inputShape), 1),
        c.inputShape,
      ),
      dy: new ort.Tensor(
        "float32",
        seededValues(tf.util.sizeFromShape(outputShape(c)), 3),
        outputShape(c),
      ),
    },
    { dw: new ort.Tensor("float32", dw, c.filterShape) },
    {},
  );
  return dw;
}

const TAP_CASES: GradCase[] = [
  {
    name: "3x3 same 3->4, batch 8",
    inputShape: [8, 6, 6, 3],
    filterShape: [3, 3, 3, 4],
    stride: 1,
    pad: "same",
  },
  {
    name: "3x3 valid 5->2, batch 4, 7x5",
    inputShape: [4, 7, 5, 5],
    filterShape: [3, 3, 5, 2],
    stride: 1,
    pad: "valid",
  },
  {
    name: "2x2 valid 3->6, batch 6 (the stem's filter)",
    inputShape: [6, 9, 9, 3],
    filterShape: [2, 2, 3, 6],
    stride: 1,
    pad: "valid",
  },
  {
    name: "3x3 s2 same 4->5, batch 4",
    inputShape: [4, 8, 8, 4],
    filterShape: [3, 3, 4, 5],
    stride: 2,
    pad: "same",
  },
  // Batches of whole blocks (8 or 16): the blocked plan too.
  {
    name: "3x3 same 5->20, batch 16, 7x7",
    inputShape: [16, 7, 7, 5],
    filterShape: [3, 3, 5, 20],
    stride: 1,
    pad: "same",
  },
  {
    name: "3x3 s2 same 6->10, batch 16, 9x9 (an odd map: the last row cropped)",
    inputShape: [16, 9, 9, 6],
    filterShape: [3, 3, 6, 10],
    stride: 2,
    pad: "same",
  },
  {
    name: "1x1 s2 valid 4->6, batch 16 (a projection shortcut)",
    inputShape: [16, 8, 8, 4],
    filterShape: [1, 1, 4, 6],
    stride: 2,
    pad: "valid",
  },
  {
    name: "2x2 valid 3->24, batch 16, 9x9 (the stem's filter)",
    inputShape: [16, 9, 9, 3],
    filterShape: [2, 2, 3, 24],
    stride: 1,
    pad: "valid",
  },
];

describe("ONNX Runtime graph plans", () => {
  beforeAll(async () => {
    await useBackend("cpu", { onnxruntime: false });
    registerTrainingKernels();
    registerOnnxRuntimeKernels({ threads: 2, minChannels: 1 });
  });
  afterAll(() => {
    unregisterOnnxRuntimeKernels();
    unregisterTrainingKernels();
  });

  const references = new Map<string, GradResult>();
  const reference = (c: GradCase) => {
    const r = references.get(c.name) ?? referenceGrads(c);
    references.set(c.name, r);
    return r.dFilter;
  };

  it.each(TAP_CASES.map((c) => [c.name, c] as const))(
    "%s: the filter gradient of every plan equals the cpu reference to 1e-4",
    (_name, c) => {
      const n = c.inputShape[0];
      const strided = c.stride !== 1;
      const { blockSize } = activeRuntime() as Runtime;
      // Channel-major sampling slices with stride 1 (strided layers always sample pixel-major);
      // the blocked plan takes batches of whole blocks.
      const plans: FilterGradPlan[] = [
        { mode: "pixel-major" },
        ...(strided ? [] : [1, 2, n].map((groups) => ({ mode: "channel-major", groups }) as const)),
        // The blocked plan with every interleave its input channels allow (1 = none).
        ...(blockSize > 1 && n % blockSize === 0
          ? Array.from({ length: c.inputShape[3] }, (_, i) => i + 1)
              .filter((g) => c.inputShape[3] % g === 0)
              .map((interleave) => ({ mode: "blocked", block: blockSize, interleave }) as const)
          : []),
      ];
      // The batch-16 cases exist for the blocked plan, which x86-64 always has (AVX2 or
      // AVX-512): there, a batch-16 case that ran without it would say so.
      if (n === 16 && process.arch === "x64") {
        expect(plans.at(-1)?.mode, "the blocked plan runs here").toBe("blocked");
      }
      for (const plan of plans) {
        const error = relativeError(filterGradByPlan(c, plan), reference(c));
        expect(error, JSON.stringify(plan)).toBeLessThan(RTOL);
      }
    },
  );

  it("takes the blocked plan for batches of whole blocks; else samples channel-major in up to 8 groups of images from 32,768 rows, pixel-major below", () => {
    const plan = (inputShape: GradCase["inputShape"], k: number, stride = 1, block = 0) =>
      filterGradPlan(
        geometryOf({
          name: "",
          inputShape,
          filterShape: [k, k, inputShape[3], 8],
          stride,
          pad: "same",
        }),
        block,
      );
    // With MLAS's blocked kernels (block 8 with AVX2, 16 with AVX-512): any stride and filter,
    // the input's channels interleaved by their largest divisor up to 32.
    const blocked = (block: number, interleave: number) => ({ mode: "blocked", block, interleave });
    expect(plan([1024, 31, 31, 24], 3, 1, 16)).toEqual(blocked(16, 24));
    expect(plan([64, 32, 32, 16], 3, 2, 16)).toEqual(blocked(16, 16));
    expect(plan([64, 32, 32, 16], 1, 2, 8)).toEqual(blocked(8, 16));
    expect(plan([64, 8, 8, 256], 3, 1, 16)).toEqual(blocked(16, 32));
    expect(plan([64, 16, 16, 96], 3, 1, 16)).toEqual(blocked(16, 32));
    expect(plan([64, 16, 16, 40], 3, 1, 16)).toEqual(blocked(16, 20));
    expect(plan([64, 32, 32, 3], 3, 1, 16)).toEqual(blocked(16, 3));
    expect(plan([64, 32, 32, 37], 3, 1, 16)).toEqual(blocked(16, 1));
    const g = geometryOf({
      name: "",
      inputShape: [16, 8, 8, 6],
      filterShape: [3, 3, 6, 8],
      stride: 1,
      pad: "same",
    });
    expect(() => filterGradGraph(g, { mode: "blocked", block: 16, interleave: 4 })).toThrow(
      "interleave: expected a divisor of the 6 input channels, got 4",
    );
    expect(plan([40, 32, 32, 16], 3, 1, 16)).toEqual({ mode: "channel-major", groups: 8 });
    expect(plan([12, 16, 16, 8], 3, 1, 8)).toEqual({ mode: "pixel-major" });
    // Without them, or for batches of no whole blocks:
    // fastResNet at batch 1,024: 31x31 to 7x7 outputs, then 3x3.
    expect(plan([1024, 31, 31, 24], 3)).toEqual({ mode: "channel-major", groups: 8 });
    expect(plan([1024, 7, 7, 96], 3)).toEqual({ mode: "channel-major", groups: 8 });
    expect(plan([1024, 3, 3, 96], 3)).toEqual({ mode: "pixel-major" });
    // SmallResNet at batch 64: 32x32 outputs channel-major, 16x16 and less pixel-major.
    expect(plan([64, 32, 32, 16], 3)).toEqual({ mode: "channel-major", groups: 8 });
    expect(plan([64, 16, 16, 32], 3)).toEqual({ mode: "pixel-major" });
    // A batch that 8 does not divide, strides and 1x1 filters.
    expect(plan([12, 64, 64, 8], 3)).toEqual({ mode: "channel-major", groups: 4 });
    expect(plan([33, 32, 32, 8], 3)).toEqual({ mode: "channel-major", groups: 1 });
    expect(plan([64, 32, 32, 16], 3, 2)).toEqual({ mode: "pixel-major" });
    expect(plan([64, 32, 32, 16], 1)).toEqual({ mode: "pixel-major" });
  });

  describe("channels padded to whole NCHWc blocks", () => {
    const block = () => onnxRuntimeKernelsActive()?.blockSize ?? 0;
    // 1.5 blocks each way (24 channels with AVX-512's 16, 12 with AVX2's 8): 1.78x the work when
    // padded, within what blockable() accepts; 1.5 -> 3 blocks pads the input side only.
    const cases = (b: number): GradCase[] => [
      {
        name: "3x3 same 1.5b->1.5b",
        inputShape: [2, 6, 6, 1.5 * b],
        filterShape: [3, 3, 1.5 * b, 1.5 * b],
        stride: 1,
        pad: "same",
      },
      {
        name: "3x3 valid 1.5b->3b, 7x5",
        inputShape: [2, 7, 5, 1.5 * b],
        filterShape: [3, 3, 1.5 * b, 3 * b],
        stride: 1,
        pad: "valid",
      },
      {
        name: "3x3 same 3b->1.5b",
        inputShape: [2, 5, 5, 3 * b],
        filterShape: [3, 3, 3 * b, 1.5 * b],
        stride: 1,
        pad: "same",
      },
    ];

    it("pads 1.5 blocks, not a quarter of one", () => {
      const b = block();
      if (b === 0) return; // no blocked kernels in this build: nothing is padded
      expect(blockable(1.5 * b, 1.5 * b)).toBe(true);
      expect(blockable(b / 4, b)).toBe(false); // 4x the work
      const c = cases(b)[0] as GradCase;
      const ops = forwardGraph(geometryOf(c), true, true).nodes.map(
        (n) => `${n.domain ?? ""}${n.op}`,
      );
      expect(ops).toContain("com.microsoft.nchwcConv");
      expect(ops.filter((op) => op === "Pad")).toHaveLength(2); // the filter and the bias
    });

    it("forward (plain, and fused with bias and ReLU) and both gradients equal the cpu reference to 1e-4", () => {
      const b = block();
      if (b === 0) return;
      for (const c of cases(b)) {
        const expected = onReferenceKernels(() => runForward(c));
        const actual = runForward(c);
        expect(relativeError(actual.plain, expected.plain)).toBeLessThan(RTOL);
        expect(relativeError(actual.fused, expected.fused)).toBeLessThan(RTOL);
        const errors = gradErrors(c, references);
        expect(errors.dInput).toBeLessThan(RTOL);
        expect(errors.dFilter).toBeLessThan(RTOL);
      }
    });
  });
});

describe("the sessions' memory arena", () => {
  beforeAll(async () => {
    await useBackend("cpu", { onnxruntime: false });
  });

  it("is on by default, can be turned off, and the results are the same bits either way", () => {
    const c = TAP_CASES[0] as GradCase;
    const results = [true, false].map((memoryArena) => {
      registerOnnxRuntimeKernels({
        threads: 2,
        minChannels: 1,
        ...(memoryArena ? {} : { memoryArena }),
      });
      try {
        expect(onnxRuntimeKernelsActive()?.memoryArena).toBe(memoryArena);
        // Twice: the second run reuses what the first left in the arena.
        runForward(c);
        return runForward(c).plain;
      } finally {
        unregisterOnnxRuntimeKernels();
      }
    });
    expect(results[1]).toEqual(results[0]);
  });

  it("rejects a memoryArena that is not a boolean, naming it", () => {
    expect(() => registerOnnxRuntimeKernels({ memoryArena: "yes" as unknown as boolean })).toThrow(
      BackendError,
    );
    expect(() => registerOnnxRuntimeKernels({ memoryArena: 1 as unknown as boolean })).toThrow(
      /options\.memoryArena to be a boolean, got 1/,
    );
    expect(onnxRuntimeKernelsActive()).toBeNull();
  });
});
