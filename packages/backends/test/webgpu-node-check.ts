// WebGPU in Node through Dawn's `webgpu` package: run by test/webgpu-node.test.ts in a process
// of its own, whose environment points Vulkan at a driver before Dawn loads it. Prints one line,
// `webgpu-node-check <json>`: what useBackend chose, and the conv kernels' errors against tfjs's
// cpu reference on the small cases.
import "@tensorflow/tfjs-backend-cpu";
import { useBackend } from "../src/use-backend.js";
import {
  gradErrorsAsync,
  referenceForward,
  relativeError,
  runForwardAsync,
  SMALL_CASES,
} from "./conv-check.js";

const auto = await useBackend("auto", { onnxruntime: false, threads: 1 });
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
} catch (err) {
  report.error = err instanceof Error ? err.message : String(err);
}
console.log(`webgpu-node-check ${JSON.stringify(report)}`);
