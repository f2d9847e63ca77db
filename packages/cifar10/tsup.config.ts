import { defineConfig } from "tsup";

export default defineConfig({
  // The batch worker is its own file: Cifar10Batches starts it with new Worker(URL).
  entry: ["src/index.ts", "src/prepare-worker.ts", "src/pictures.ts"],
  format: ["esm"],
  target: "node20",
  dts: true,
  sourcemap: true,
  clean: true,
});
