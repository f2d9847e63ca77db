import { defineConfig } from "tsup";

export default defineConfig({
  // cli.ts is the cnnkit-predict bin; verify-worker.ts is what verifyExport forks, one process per artifact.
  entry: ["src/index.ts", "src/cli.ts", "src/verify-worker.ts"],
  format: ["esm"],
  target: "node20",
  dts: { entry: "src/index.ts" },
  sourcemap: true,
  clean: true,
});
