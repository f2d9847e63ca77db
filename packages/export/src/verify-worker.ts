// Child-process side of verifyExport: loads one artifact in a fresh process (no state shared
// with the trainer that made it) and sends back its logits for the inputs it is given.
import * as tf from "@tensorflow/tfjs-core";
import { ExportError } from "./errors.js";
import { findArtifact, readManifest } from "./manifest.js";
import { openArtifact } from "./runner.js";
import type { WorkerReply, WorkerRequest } from "./verify-protocol.js";

const BACKEND_MODULES: Record<string, string> = {
  cpu: "@tensorflow/tfjs-backend-cpu",
  tensorflow: "@tensorflow/tfjs-node",
  wasm: "@tensorflow/tfjs-backend-wasm",
};

async function handle(req: WorkerRequest): Promise<WorkerReply> {
  const manifest = await readManifest(req.dir);
  const artifact = findArtifact(manifest, req.artifact, req.dir);
  if (artifact.format === "tfjs-layers") {
    const mod = BACKEND_MODULES[req.backend];
    if (!mod)
      throw new ExportError(
        "invalid_option",
        `verifyExport backend: expected one of ${Object.keys(BACKEND_MODULES).join(", ")}, got "${req.backend}"`,
      );
    try {
      await import(mod);
    } catch (cause) {
      throw new ExportError(
        "backend_missing",
        `verifyExport backend "${req.backend}" needs ${mod}, which did not load (${(cause as Error).message.split("\n")[0]})`,
        { cause },
      );
    }
    if (!(await tf.setBackend(req.backend)))
      throw new ExportError(
        "backend_missing",
        `tfjs backend "${req.backend}" failed to initialise`,
      );
  }
  const runner = await openArtifact(req.dir, manifest, artifact);
  try {
    return { ok: true, logits: await runner.run(req.inputs, req.count) };
  } finally {
    await runner.dispose();
  }
}

process.once("message", (req: WorkerRequest) => {
  handle(req)
    .catch((err: unknown) => ({
      ok: false as const,
      code: err instanceof ExportError ? err.code : "worker_failed",
      message: err instanceof Error ? err.message : String(err),
    }))
    .then((reply) => process.send?.(reply, () => process.disconnect()));
});
