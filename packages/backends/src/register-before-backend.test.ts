// registerTrainingKernels() before the wasm backend starts: the kernels it replaces bind their
// C++ functions in their setupFunc, which tfjs runs when a backend starts. Ours fall back on
// them, so the registered configs must carry that setup, or the fallbacks would call nothing.
import "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, expect, it } from "vitest";
import { registerTrainingKernels, unregisterTrainingKernels } from "./register-training-kernels.js";

afterAll(() => unregisterTrainingKernels());

it("keeps the replaced wasm kernels' setup, so their fallbacks work on a backend started later", async () => {
  const own = tf.getKernel("FusedBatchNorm", "wasm");
  expect(own?.setupFunc).toBeDefined();
  const report = registerTrainingKernels();
  expect(report.replaced).toContain("FusedBatchNorm@wasm");
  expect(tf.getKernel("FusedBatchNorm", "wasm")?.setupFunc).toBe(own?.setupFunc);
  await tf.setBackend("wasm");
  // Six channels: not the SIMD loop's layout, so wasm's own kernel runs, bound by its setup.
  const x = tf.tensor2d([1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6], [2, 6]);
  const y = tf.batchNorm(x, tf.zeros([6]), tf.ones([6]), tf.zeros([6]), tf.ones([6]), 0);
  expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6]);
  // And Erf on int32 (its fallback too).
  expect(tf.erf(tf.tensor1d([0], "int32")).shape).toEqual([1]);
});
