// A tfjs backend whose tensors can only be read asynchronously, for tests of code that must run
// on GPU backends. WebGPU in Node (Dawn) cannot read a tensor synchronously at all, and in a
// browser a synchronous read from a GPU stalls the page (on SwiftShader it breaks the device):
// code meant for those backends reads with `await tensor.data()`. This backend is tfjs's cpu
// backend under another name (the same kernels, the same numbers) whose synchronous reads
// (`dataSync`, `arraySync`, `bufferSync`, reached through the engine) throw, so a test that
// trains, evaluates or explains on it proves the path never reads synchronously — in Node, in
// milliseconds, without a GPU. Like a GPU backend, its name is not one of the host-memory
// backends (cpu, wasm, tensorflow) that cnnkit reads directly.

const patched = Symbol.for("cnnkit.asyncOnlyBackend.patched");

/**
 * Registers (once) the backend `name` and makes it the active backend. Its kernels are a copy
 * of the cpu backend's as registered now, so import `@tensorflow/tfjs-backend-cpu` (and register
 * any cpu kernels of your own) first.
 * @param {typeof import("@tensorflow/tfjs-core")} tf the tfjs-core namespace of the code tested
 * @param {string} [name]
 * @returns {Promise<void>}
 */
export async function useAsyncOnlyBackend(tf, name = "async-only") {
  if (tf.findBackendFactory(name) === null) {
    const cpu = tf.findBackendFactory("cpu");
    if (cpu === null) {
      throw new Error("useAsyncOnlyBackend: import @tensorflow/tfjs-backend-cpu first");
    }
    tf.registerBackend(name, cpu, -1);
    for (const kernel of tf.getKernelsForBackend("cpu")) {
      tf.registerKernel({ ...kernel, backendName: name });
    }
  }
  const engine = tf.engine();
  if (!engine[patched]) {
    const readSync = engine.readSync.bind(engine);
    engine[patched] = new Set();
    engine.readSync = (dataId) => {
      if (engine[patched].has(engine.backendName)) {
        throw new Error(
          `${engine.backendName}: a synchronous read (dataSync, arraySync, bufferSync) on a backend that can only be read with await tensor.data()`,
        );
      }
      return readSync(dataId);
    };
  }
  engine[patched].add(name);
  await tf.setBackend(name);
}
