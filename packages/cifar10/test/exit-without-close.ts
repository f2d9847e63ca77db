// Run by batches.test.ts in a child process: takes one batch (so a prefetch is in flight in the
// worker thread) and ends without close(). The process must exit by itself. With the argument
// `close` it awaits close() at the top level instead, which must settle (an unref'd worker's
// terminate() once let Node exit with 13, "unsettled top-level await", before it resolved).
import "@tensorflow/tfjs-backend-cpu";
import { Cifar10Batches, horizontalFlip } from "../src/index.js";

const n = 8;
const split = { images: new Uint8Array(n * 3072), labels: new Uint8Array(n), length: n };
const batches = new Cifar10Batches(split, { batchSize: 2, augment: horizontalFlip() });
const first = await batches.epoch(0).next();
console.log(`got ${first.value?.indices.length} via ${batches.preparation.where}`);
if (process.argv.includes("close")) {
  await batches.close();
  console.log(`closed: ${batches.preparation.reason}`);
}
