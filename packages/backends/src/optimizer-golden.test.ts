// @cnnkit/optim's PyTorch golden fixtures, replayed with this package's optimizer kernels in use:
// the fused AdamW and SGD updates and clipByGlobalNorm's fused norms must meet the same bar as
// the ops (every parameter within 1e-5 relative + 1e-6 of PyTorch 1.13 after 20 steps).

import { ADAMW_UPDATE, L2_NORMS, SGD_UPDATE } from "@cnnkit/optim/kernel-names";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  closeness,
  fixture,
  makeOptimizer,
  makeSchedule,
  Problem,
  train,
} from "../../optim/test/golden-problem.js";
import { unregisterTrainingKernels } from "./register-training-kernels.js";
import { useBackend } from "./use-backend.js";

describe.each(["cpu", "wasm"] as const)("AdamW and SGD with the fused kernels on %s", (backend) => {
  beforeAll(async () => {
    await useBackend(backend, { onnxruntime: false });
  });
  afterAll(() => unregisterTrainingKernels());

  it("replays every fixture of both, clipping ones included", () => {
    for (const kind of ["AdamW", "SGD"]) {
      expect(fixture.cases.filter((c) => c.optimizer === kind).length).toBeGreaterThan(2);
    }
    expect(fixture.cases.some((c) => c.clip !== undefined)).toBe(true);
    expect(tf.getKernel(ADAMW_UPDATE, backend)).toBeDefined();
    expect(tf.getKernel(SGD_UPDATE, backend)).toBeDefined();
    expect(tf.getKernel(L2_NORMS, backend)).toBeDefined();
  });

  for (const [index, c] of fixture.cases.entries()) {
    it(`${c.name}: every parameter within 1e-5 of PyTorch`, async () => {
      const problem = new Problem(c.seed, `fused_${backend}_${index}`);
      const optimizer = makeOptimizer(c);
      const schedule = makeSchedule(c);
      // The fused kernels really run (one update kernel per variable and step).
      const info = await tf.profile(() => {
        train(c, problem, optimizer, schedule, 0, 1);
      });
      const kernel = c.optimizer === "AdamW" ? ADAMW_UPDATE : SGD_UPDATE;
      const updates = info.kernels.filter((k) => k.name === kernel).length;
      expect(updates).toBe(Object.keys(problem.vars).length);
      if (c.clip !== undefined) expect(info.kernels.some((k) => k.name === L2_NORMS)).toBe(true);
      const trace = train(c, problem, optimizer, schedule, 1, fixture.steps);
      if (c.preClipNorms) {
        for (const [k, n] of trace.norms.entries()) {
          const want = c.preClipNorms[k + 1] as number;
          expect(Math.abs(n - want) / want).toBeLessThan(1e-5);
        }
      }
      expect(closeness(problem.values(), c.final)).toBeLessThan(1);
      optimizer.dispose();
      problem.dispose();
    });
  }
});
