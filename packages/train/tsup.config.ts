import { cnnkitTsup } from "@cnnkit/tsup-config";

export default cnnkitTsup({
  entry: ["src/index.ts", "src/data-parallel.ts", "src/data-parallel-worker.ts"],
});
