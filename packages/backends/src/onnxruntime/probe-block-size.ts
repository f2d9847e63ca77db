// Asks ONNX Runtime which NCHWc block its CPU kernels use, once, when the kernels are registered.
import { NCHWC } from "./blocked-conv.js";
import type { OnnxRuntimeModule } from "./load.js";
import { encodeOnnxModel } from "./onnx-model.js";

/**
 * MLAS's NCHWc block size, read off ReorderInput's output shape for 4 channels (it pads the
 * channels to a whole block); 0 when the blocked operators are missing (another build, or a
 * CPU without a blocked kernel: then the channel dimension comes back as 4).
 */
export function probeBlockSize(ort: OnnxRuntimeModule): number {
  try {
    const bytes = encodeOnnxModel({
      nodes: [
        {
          op: "ReorderInput",
          domain: NCHWC,
          inputs: ["x"],
          outputs: ["y"],
          attributes: { channels_last: 1 },
        },
      ],
      inputs: [{ name: "x", shape: [1, 1, 1, 4] }],
      outputs: [{ name: "y" }],
    });
    const s = ort.createSession();
    s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, { logSeverityLevel: 3 });
    const out = s.run(
      { x: new ort.Tensor("float32", new Float32Array(4), [1, 1, 1, 4]) },
      { y: null },
      {},
    ) as { y?: { dims?: readonly number[] } };
    s.dispose?.();
    const block = out.y?.dims?.[1] ?? 0;
    return block >= 8 ? block : 0;
  } catch {
    return 0;
  }
}
