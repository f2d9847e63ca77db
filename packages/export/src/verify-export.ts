// verifyExport: the deployment sanity check. Each artifact is loaded in a fresh Node process
// and must reproduce the original model's logits on the same images within tolerances.
import { fork } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { ExportError } from "./errors.js";
import { normalizePixels } from "./image.js";
import { type ArtifactName, readManifest } from "./manifest.js";
import { layersRunner } from "./runner.js";
import type { WorkerReply, WorkerRequest } from "./verify-protocol.js";

/** The images to check and where the original model's answers come from. */
export interface VerifySamples {
  /** N×H×W×C uint8 pixels, NHWC RGB, of the model's input size (as `Cifar10Split.images`); normalised with the manifest's stats. */
  images: Uint8Array;
  /** The in-memory model the export was made from; its logits are the reference. Give this or `logits`. */
  model?: LayersModel;
  /** Reference logits (N×classes) computed earlier from the original model. Give this or `model`. */
  logits?: Float32Array;
  /** N class indices, to report each artifact's accuracy. Defaults to none. */
  labels?: ArrayLike<number>;
}

/** Limits an artifact must stay within. */
export interface Tolerance {
  /** Largest allowed |Δlogit| over all samples and classes. */
  maxAbs: number;
  /** Largest allowed mean |Δlogit|. */
  meanAbs: number;
  /** Smallest allowed share of samples whose top-1 class matches the original's. */
  top1Agreement: number;
}

export interface VerifyOptions {
  /** Artifacts to check. Defaults to every artifact in the manifest. */
  artifacts?: ArtifactName[];
  /** Per-artifact overrides of the default tolerances. Defaults to `{}` (see `DEFAULT_TOLERANCES`). */
  tolerances?: Partial<Record<ArtifactName, Partial<Tolerance>>>;
  /**
   * tfjs backend the child processes use for tfjs artifacts: `cpu`, `tensorflow` (tfjs-node) or
   * `wasm`. Defaults to the caller's current tfjs backend when it is one of those (a trainer on
   * tfjs-node verifies on tfjs-node, much faster than cpu), else `"cpu"`.
   */
  backend?: string;
  /** Throw an `ExportError` (code `parity_failed`) holding the readable report when a check fails. Defaults to `true`. */
  throwOnFailure?: boolean;
  /**
   * Milliseconds one child process may take, a guard against a hung process rather than a
   * speed target (tfjs's cpu backend runs a ResNet at a few images per second). Defaults to
   * `1800000` (30 minutes).
   */
  timeoutMs?: number;
}

/**
 * Float32 artifacts differ from the original only by summation order (different backend or
 * runtime), so 1e-3 on logits of order 1–10 is generous; quantised weights move logits for real,
 * and what matters there is that the predicted class stays the same.
 */
export const DEFAULT_TOLERANCES: Readonly<Record<ArtifactName, Tolerance>> = {
  tfjs: { maxAbs: 1e-3, meanAbs: 1e-4, top1Agreement: 1 },
  onnx: { maxAbs: 1e-3, meanAbs: 1e-4, top1Agreement: 1 },
  "tfjs-float16": { maxAbs: 0.05, meanAbs: 0.01, top1Agreement: 0.98 },
  "tfjs-uint8": { maxAbs: 1, meanAbs: 0.2, top1Agreement: 0.9 },
};

export interface ArtifactCheck {
  artifact: ArtifactName;
  ok: boolean;
  /** Why it failed, one line each (empty when ok). */
  failures: string[];
  maxAbsDiff: number;
  meanAbsDiff: number;
  top1Agreement: number;
  /** Accuracy on the samples, when labels were given. */
  accuracy?: number;
  tolerance: Tolerance;
  /** Where the largest difference is. */
  worst?: { sample: number; className: string; reference: number; actual: number };
}

export interface VerifyReport {
  ok: boolean;
  dir: string;
  samples: number;
  /** The original model's accuracy on the samples, when labels were given. */
  referenceAccuracy?: number;
  artifacts: ArtifactCheck[];
}

/** What `verifyExport` throws when an artifact is beyond tolerance: code `parity_failed`, the readable report as message, the data as `report`. */
export class ParityError extends ExportError {
  static override readonly marker: string = "cnnkit.error.ParityError";

  constructor(readonly report: VerifyReport) {
    super("parity_failed", formatVerifyReport(report));
  }
}

/** The report as an aligned plain-text table, failures spelled out below it. */
export function formatVerifyReport(report: VerifyReport): string {
  const fmt = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));
  const pct = (x: number | undefined) => (x === undefined ? "-" : `${(x * 100).toFixed(1)}%`);
  const lines = [
    `verifyExport ${report.dir}: ${report.samples} samples${report.referenceAccuracy === undefined ? "" : `, original accuracy ${pct(report.referenceAccuracy)}`}`,
  ];
  lines.push(
    `${"artifact".padEnd(14)}${"max|Δ|".padStart(11)}${"mean|Δ|".padStart(11)}${"top-1 agree".padStart(13)}${"accuracy".padStart(10)}  verdict`,
  );
  for (const a of report.artifacts) {
    lines.push(
      `${a.artifact.padEnd(14)}${fmt(a.maxAbsDiff).padStart(11)}${fmt(a.meanAbsDiff).padStart(11)}${pct(a.top1Agreement).padStart(13)}${pct(a.accuracy).padStart(10)}  ${a.ok ? "ok" : "FAIL"}`,
    );
  }
  for (const a of report.artifacts) {
    for (const f of a.failures) lines.push(`  ${a.artifact}: ${f}`);
    if (!a.ok && a.worst) {
      lines.push(
        `  ${a.artifact}: largest difference at sample ${a.worst.sample}, class "${a.worst.className}": original ${a.worst.reference.toFixed(5)}, export ${a.worst.actual.toFixed(5)}`,
      );
    }
  }
  lines.push(
    report.ok ? "all artifacts within tolerance" : "EXPORT DOES NOT MATCH THE ORIGINAL MODEL",
  );
  return lines.join("\n");
}

/** Backends a child process knows how to load (see verify-worker.ts). */
const CHILD_BACKENDS = ["cpu", "tensorflow", "wasm"];

function workerCommand(): { path: string; execArgv: string[] } {
  const self = fileURLToPath(import.meta.url);
  // Running from sources (tests, tsx): the child needs a TypeScript loader too.
  if (self.endsWith(".ts"))
    return {
      path: resolve(self, "../verify-worker.ts"),
      execArgv: ["--import", "tsx", "--conditions=@cnnkit/source"],
    };
  return { path: resolve(self, "../verify-worker.js"), execArgv: [] };
}

/** Runs one artifact in a child process and returns its logits. */
function runInChild(req: WorkerRequest, timeoutMs: number): Promise<Float32Array> {
  const { path, execArgv } = workerCommand();
  return new Promise((resolvePromise, reject) => {
    const child = fork(path, [], {
      execArgv,
      serialization: "advanced",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let stderr = "";
    let reply: WorkerReply | undefined;
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new ExportError(
          "verify_timeout",
          `${req.dir}: artifact "${req.artifact}" gave no answer within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    child.on("message", (m: WorkerReply) => {
      reply = m;
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(
        new ExportError(
          "worker_failed",
          `${req.dir}: could not start a process for artifact "${req.artifact}" (${err.message})`,
          { cause: err },
        ),
      );
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (reply?.ok) resolvePromise(reply.logits);
      else if (reply) reject(new ExportError(reply.code, reply.message));
      else
        reject(
          new ExportError(
            "worker_failed",
            `${req.dir}: the process for artifact "${req.artifact}" exited (${signal ?? code}) without an answer${stderr ? `:\n${stderr.trim()}` : ""}`,
          ),
        );
    });
    child.send(req);
  });
}

/**
 * Loads each exported artifact in a fresh process, runs the same images through it and through
 * the original, and compares logits (max and mean |Δ|, top-1 agreement) against tolerances.
 * By default a failed check throws an `ExportError` whose message is the readable report, so a
 * script that calls this exits non-zero.
 */
export async function verifyExport(
  dir: string,
  samples: VerifySamples,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const root = resolve(dir);
  const manifest = await readManifest(root);
  const [h, w, c] = manifest.input.shape;
  const per = h * w * c;
  const classes = manifest.classNames.length;
  if (
    !(samples?.images instanceof Uint8Array) ||
    samples.images.length === 0 ||
    samples.images.length % per !== 0
  ) {
    throw new ExportError(
      "invalid_option",
      `verifyExport samples.images: expected a non-empty Uint8Array of N×${h}×${w}×${c} pixels, got ${samples?.images?.length} values`,
    );
  }
  const count = samples.images.length / per;
  if (samples.labels && samples.labels.length !== count) {
    throw new ExportError(
      "invalid_option",
      `verifyExport samples.labels: expected ${count} labels (one per image), got ${samples.labels.length}`,
    );
  }
  const inputs = normalizePixels(samples.images, manifest);
  let reference: Float32Array;
  if (samples.model)
    reference = await layersRunner(samples.model, manifest.input.shape, false).run(inputs, count);
  else if (samples.logits) reference = samples.logits;
  else
    throw new ExportError(
      "invalid_option",
      "verifyExport samples: expected `model` (the original) or `logits` (its answers), got neither",
    );
  if (reference.length !== count * classes) {
    throw new ExportError(
      "invalid_option",
      `verifyExport: expected ${count}×${classes} reference logits, got ${reference.length}`,
    );
  }

  const names = options.artifacts ?? manifest.artifacts.map((a) => a.name);
  const current = tf.getBackend();
  const backend =
    options.backend ?? (current && CHILD_BACKENDS.includes(current) ? current : "cpu");
  const timeoutMs = options.timeoutMs ?? 1_800_000;
  const top1 = (logits: Float32Array, i: number) => {
    let best = 0;
    for (let k = 1; k < classes; k++)
      if ((logits[i * classes + k] as number) > (logits[i * classes + best] as number)) best = k;
    return best;
  };
  const accuracy = (logits: Float32Array) => {
    if (!samples.labels) return undefined;
    let hit = 0;
    for (let i = 0; i < count; i++) if (top1(logits, i) === samples.labels[i]) hit++;
    return hit / count;
  };

  const checks: ArtifactCheck[] = [];
  for (const name of names) {
    const tolerance: Tolerance = {
      ...(DEFAULT_TOLERANCES[name] ?? DEFAULT_TOLERANCES.tfjs),
      ...(options.tolerances?.[name] ?? {}),
    };
    let logits: Float32Array;
    try {
      logits = await runInChild({ dir: root, artifact: name, inputs, count, backend }, timeoutMs);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      checks.push({
        artifact: name,
        ok: false,
        failures: [`could not run: ${message}`],
        maxAbsDiff: Number.NaN,
        meanAbsDiff: Number.NaN,
        top1Agreement: 0,
        tolerance,
      });
      continue;
    }
    if (logits.length !== reference.length) {
      checks.push({
        artifact: name,
        ok: false,
        failures: [`expected ${reference.length} logits, got ${logits.length}`],
        maxAbsDiff: Number.NaN,
        meanAbsDiff: Number.NaN,
        top1Agreement: 0,
        tolerance,
      });
      continue;
    }
    let max = 0;
    let sum = 0;
    let worstAt = 0;
    for (let i = 0; i < logits.length; i++) {
      const d = Math.abs((logits[i] as number) - (reference[i] as number));
      // NaN must fail, so it counts as infinitely far.
      const dd = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
      sum += dd;
      if (dd > max || i === 0) {
        max = dd;
        worstAt = i;
      }
    }
    let agree = 0;
    for (let i = 0; i < count; i++) if (top1(logits, i) === top1(reference, i)) agree++;
    const check: ArtifactCheck = {
      artifact: name,
      ok: true,
      failures: [],
      maxAbsDiff: max,
      meanAbsDiff: sum / logits.length,
      top1Agreement: agree / count,
      tolerance,
      worst: {
        sample: Math.floor(worstAt / classes),
        className: manifest.classNames[worstAt % classes] ?? String(worstAt % classes),
        reference: reference[worstAt] as number,
        actual: logits[worstAt] as number,
      },
    };
    const acc = accuracy(logits);
    if (acc !== undefined) check.accuracy = acc;
    if (!(check.maxAbsDiff <= tolerance.maxAbs))
      check.failures.push(
        `max |Δlogit| ${check.maxAbsDiff.toExponential(3)} > ${tolerance.maxAbs}`,
      );
    if (!(check.meanAbsDiff <= tolerance.meanAbs))
      check.failures.push(
        `mean |Δlogit| ${check.meanAbsDiff.toExponential(3)} > ${tolerance.meanAbs}`,
      );
    if (check.top1Agreement < tolerance.top1Agreement) {
      check.failures.push(
        `top-1 agreement ${(check.top1Agreement * 100).toFixed(1)}% < ${(tolerance.top1Agreement * 100).toFixed(1)}% (${count - agree} of ${count} samples change class)`,
      );
    }
    check.ok = check.failures.length === 0;
    checks.push(check);
  }
  const report: VerifyReport = {
    ok: checks.every((c) => c.ok),
    dir: root,
    samples: count,
    artifacts: checks,
  };
  const refAcc = accuracy(reference);
  if (refAcc !== undefined) report.referenceAccuracy = refAcc;
  if (!report.ok && (options.throwOnFailure ?? true)) {
    throw new ParityError(report);
  }
  return report;
}
