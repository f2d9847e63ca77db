// exportOnnxAsync on a backend that can only be read asynchronously (as WebGPU in Node): the
// same bytes as exportOnnx on cpu, for both of cnnkit's nets, and through the browser-safe
// `@cnnkit/export/onnx` entry.
import "@tensorflow/tfjs-backend-cpu";
import { fastResNet, smallResNet } from "@cnnkit/resnet";
import { useAsyncOnlyBackend } from "@cnnkit/vitest-config/async-only-backend";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { afterEach, describe, expect, it } from "vitest";
import { exportOnnx as exportOnnxFromIndex } from "./index.js";
import { ExportError, exportOnnx, exportOnnxAsync } from "./onnx.js";

afterEach(async () => {
  await tf.setBackend("cpu");
});

const nets: [string, () => LayersModel][] = [
  ["smallResNet", () => smallResNet({ widths: [4, 8, 16], seed: 3 })],
  ["fastResNet", () => fastResNet({ widths: [8, 16, 16], seed: 3 })],
];

describe("exportOnnxAsync", () => {
  it.each(nets)(
    "writes %s's exportOnnx bytes on a backend whose synchronous reads throw, reading nothing synchronously",
    async (_name, build) => {
      await tf.setBackend("cpu");
      const onCpu = build();
      const expected = exportOnnx(onCpu, { docString: "d", metadata: { k: "v" } });
      onCpu.dispose();

      await useAsyncOnlyBackend(tf);
      const model = build();
      // The sync form fails there (what a GPU backend does), the async one does not.
      expect(() => exportOnnx(model)).toThrow();
      const tensors = tf.memory().numTensors;
      const got = await exportOnnxAsync(model, { docString: "d", metadata: { k: "v" } });
      expect(tf.memory().numTensors).toBe(tensors);
      model.dispose();

      expect(got.foldedBatchNorms).toBe(expected.foldedBatchNorms);
      expect(got.foldedBatchNorms).toBeGreaterThan(0);
      expect(Buffer.from(got.bytes).equals(Buffer.from(expected.bytes))).toBe(true);
    },
  );

  it("refuses an unsupported layer as exportOnnx does", async () => {
    const tfl = await import("@tensorflow/tfjs-layers");
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 3 }),
        tfl.layers.upSampling2d({ size: [2, 2] }),
      ],
    });
    await expect(exportOnnxAsync(model)).rejects.toSatisfy(
      (error) => ExportError.isInstance(error) && error.code === "onnx_unsupported",
    );
    model.dispose();
  });

  it("is the same function from @cnnkit/export and @cnnkit/export/onnx", () => {
    expect(exportOnnxFromIndex).toBe(exportOnnx);
  });
});
