// Messages between verifyExport and its per-artifact child process.
import type { ExportErrorCode } from "./errors.js";
import type { ArtifactName } from "./manifest.js";

export interface WorkerRequest {
  dir: string;
  artifact: ArtifactName;
  /** Preprocessed NHWC float32 inputs. */
  inputs: Float32Array;
  count: number;
  /** tfjs backend for tfjs artifacts: `cpu`, `tensorflow` (tfjs-node) or `wasm`. */
  backend: string;
}

export type WorkerReply =
  | { ok: true; logits: Float32Array }
  | { ok: false; code: ExportErrorCode; message: string };
