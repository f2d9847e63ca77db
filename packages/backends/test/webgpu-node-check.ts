// WebGPU in Node through Dawn's `webgpu` package: run by test/webgpu-node.test.ts in a process
// of its own, whose environment points Vulkan at a driver before Dawn loads it. Prints one line,
// `webgpu-node-check <json>`: what useBackend chose, and the conv kernels' errors against tfjs's
// cpu reference on the small cases.
import "@tensorflow/tfjs-backend-cpu";
import { clipByGlobalNormAsync, OptimError, SGD } from "@cnnkit/optim";
import { fastResNet } from "@cnnkit/resnet";
import * as tf from "@tensorflow/tfjs-core";
import { useBackend } from "../src/use-backend.js";
import {
  gradErrorsAsync,
  referenceForward,
  relativeError,
  runForwardAsync,
  SMALL_CASES,
} from "./conv-check.js";

/**
 * Three steps of a small fastResNet with cnnkit's SGD and clipping, reading only with await (as
 * on a GPU backend); the losses.
 */
async function trainLosses(): Promise<number[]> {
  const model = fastResNet({ widths: [8, 16, 16], seed: 1 });
  const optimizer = new SGD({ learningRate: 0.05, momentum: 0.9, nesterov: true });
  const x = tf.randomNormal([8, 32, 32, 3], 0, 1, "float32", 2);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], "int32"), 10);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const losses: number[] = [];
  for (let step = 0; step < 3; step++) {
    const { value, grads } = tf.variableGrads(
      () =>
        tf.losses.softmaxCrossEntropy(
          y,
          model.apply(x, { training: true }) as tf.Tensor,
        ) as tf.Scalar,
      variables,
    );
    const clipped = await clipByGlobalNormAsync(grads, 1);
    optimizer.applyGradients(clipped.grads);
    losses.push((await value.data())[0]!);
    tf.dispose([value, ...Object.values(grads), ...Object.values(clipped.grads)]);
  }
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return losses;
}

/** What applyGradients says where gradients were not checked first. */
function uncheckedStep(): string {
  const v = tf.variable(tf.ones([2]), true, "unchecked/v");
  const g = tf.ones([2]);
  try {
    new SGD({ learningRate: 0.1 }).applyGradients({ "unchecked/v": g });
    return "applied";
  } catch (error) {
    return OptimError.isInstance(error) ? `${error.code}: ${error.message}` : String(error);
  } finally {
    tf.dispose([v, g]);
  }
}

const auto = await useBackend("auto", { onnxruntime: false, threads: 1 });
await tf.setBackend("cpu");
const cpuLosses = await trainLosses();
const report: Record<string, unknown> = {
  auto: { backend: auto.backend, webgpu: auto.tried.find((t) => t.choice === "webgpu") },
};
try {
  const chosen = await useBackend("webgpu", { allowSoftwareAdapter: true });
  report.webgpu = { backend: chosen.backend, reason: chosen.reason };
  const references = new Map();
  report.cases = [];
  for (const c of SMALL_CASES) {
    const grads = await gradErrorsAsync(c, references);
    const forward = await runForwardAsync(c);
    const expected = referenceForward(c);
    (report.cases as unknown[]).push({
      name: c.name,
      ...grads,
      conv2d: relativeError(forward.plain, expected.plain),
      fusedConv2d: relativeError(forward.fused, expected.fused),
    });
  }
  report.training = { cpu: cpuLosses, webgpu: await trainLosses(), unchecked: uncheckedStep() };
} catch (err) {
  report.error = err instanceof Error ? err.message : String(err);
}
console.log(`webgpu-node-check ${JSON.stringify(report)}`);
