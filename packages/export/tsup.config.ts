import { cnnkitTsup } from "@cnnkit/tsup-config";

export default cnnkitTsup({
  // cli.ts is the cnnkit-predict bin; verify-worker.ts is what verifyExport forks, one process per artifact.
  entry: ["src/index.ts", "src/cli.ts", "src/verify-worker.ts"],
  dts: { entry: "src/index.ts" },
});
