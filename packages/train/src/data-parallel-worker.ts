// A worker replica of a DataParallel group (see data-parallel.ts): rebuilds the model from its
// JSON on the main thread's backend, then, for each request, loads the weights it is sent,
// computes the loss and gradients of its slice of the batch and sends them back, concatenated
// in trainable-variable order.
import { parentPort, workerData } from "node:worker_threads";
import { useBackend } from "@cnnkit/backends";
import * as tf from "@tensorflow/tfjs-core";
import { type LayersModel, models } from "@tensorflow/tfjs-layers";
import { classifierGradients, trainableVariables } from "./classifier-gradients.js";
import {
  concatFloat32,
  type ReplicaInit,
  type ReplicaMessage,
  type ReplicaRequest,
} from "./replica-protocol.js";

const port = parentPort!;
const init = workerData as ReplicaInit;
const send = (m: ReplicaMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split("\n")[0]!;

interface Replica {
  model: LayersModel;
  variables: tf.Variable[];
}

async function start(): Promise<Replica> {
  await useBackend(init.backend, {
    threads: init.threads,
    onnxruntime: init.onnxruntime,
    trainingKernels: true,
  });
  for (const specifier of init.setup) await import(specifier);
  const model = await buildModel(init.model);
  const variables = trainableVariables(model);
  const shapes = variables.map((v) => v.shape.join("x")).join(",");
  const expected = init.shapes.map((s) => s.join("x")).join(",");
  if (shapes !== expected) {
    throw new Error(
      `its model's trainable variables differ from the main thread's (${shapes} vs ${expected})`,
    );
  }
  return { model, variables };
}

/** This worker's copy of the model: from the builder it was given, or from the model's JSON. */
async function buildModel(how: ReplicaInit["model"]): Promise<LayersModel> {
  if ("topology" in how) {
    return models.modelFromJSON({ modelTopology: how.topology } as never);
  }
  const { module, export: name, args } = how.build;
  const builder = (await import(module))[name] as unknown;
  if (typeof builder !== "function") {
    throw new Error(`build: ${module} has no function export "${name}"`);
  }
  return (await builder(...args)) as LayersModel;
}

async function gradients({ model, variables }: Replica, r: ReplicaRequest): Promise<void> {
  let offset = 0;
  tf.tidy(() => {
    for (const v of variables) {
      v.assign(tf.tensor(r.weights.subarray(offset, offset + v.size), v.shape, "float32"));
      offset += v.size;
    }
  });
  const x = tf.tensor(r.x, r.xShape, "float32");
  const y = tf.tensor1d(r.y, "int32");
  const { value, correct, grads } = classifierGradients(model, x, y, {
    labelSmoothing: r.labelSmoothing,
  });
  try {
    const [lossValue, correctValue, ...parts] = await Promise.all([
      value.data(),
      correct.data(),
      ...variables.map((v) => grads[v.name]!.data<"float32">()),
    ]);
    const flat = concatFloat32(parts as Float32Array[]);
    send(
      { type: "result", id: r.id, loss: lossValue[0]!, correct: correctValue[0]!, grads: flat },
      [flat.buffer],
    );
  } finally {
    tf.dispose([x, y, value, correct, ...Object.values(grads)]);
  }
}

try {
  const replica = await start();
  // Requests arrive one at a time (the main thread waits for every replica before the next).
  let queue = Promise.resolve();
  port.on("message", (r: ReplicaRequest) => {
    queue = queue.then(() =>
      gradients(replica, r).catch((e) => send({ type: "failed", id: r.id, message: firstLine(e) })),
    );
  });
  send({ type: "ready" });
} catch (error) {
  send({ type: "failed", id: null, message: firstLine(error) });
}
