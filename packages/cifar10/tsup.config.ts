import { cnnkitTsup } from "@cnnkit/tsup-config";

export default cnnkitTsup({
  // The batch worker is its own file: Cifar10Batches starts it with new Worker(URL).
  entry: ["src/index.ts", "src/browser.ts", "src/prepare-worker.ts", "src/pictures.ts"],
});
