import type * as tf from "@tensorflow/tfjs-core";

/**
 * Registers (once) and activates a tfjs backend that is the cpu backend under `name`
 * (default `"async-only"`) except that synchronous reads (`dataSync`, `arraySync`,
 * `bufferSync`) throw: the read discipline WebGPU in Node imposes, in Node without a GPU.
 */
export declare function useAsyncOnlyBackend(tfjs: typeof tf, name?: string): Promise<void>;
