// Entry point `@cnnkit/metrics/tfjs`: what needs tfjs-core at runtime (the main entry does not).

export type { SoftmaxCrossEntropyOptions } from "./softmax-cross-entropy.js";
export { softmaxCrossEntropy } from "./softmax-cross-entropy.js";
