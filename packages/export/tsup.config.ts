import { cnnkitTsup } from "@cnnkit/tsup-config";

export default cnnkitTsup({
  // cli.ts is the cnnkit-predict bin; verify-worker.ts is what verifyExport forks, one process per
  // artifact; onnx.ts is the browser-safe ONNX writer (`@cnnkit/export/onnx`).
  entry: ["src/index.ts", "src/onnx.ts", "src/cli.ts", "src/verify-worker.ts"],
  dts: { entry: ["src/index.ts", "src/onnx.ts"] },
});
