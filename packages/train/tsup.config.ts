import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/data-parallel.ts", "src/data-parallel-worker.ts"],
  format: ["esm"],
  target: "node20",
  dts: true,
  sourcemap: true,
  clean: true,
});
