// The check every optimizer step makes before it touches anything: are all the gradients finite?
// One pass over them. Where tensors live in this process's memory (cpu, wasm, tfjs-node) the
// values are read directly, with no kernel dispatched (the fused-kernel backends' step stays one
// kernel per variable); elsewhere (webgl, webgpu) `isFinite` + `all` per tensor and one
// read-back. Gradients `clipByGlobalNorm` returned are finite by construction and skip it.
import {
  all,
  isFinite as finite,
  getBackend,
  stack,
  type Tensor,
  tidy,
} from "@tensorflow/tfjs-core";
import { OptimError } from "./errors.js";

/** Backends whose tensors are host memory: reading them costs one copy at most. */
const HOST_BACKENDS = new Set(["cpu", "wasm", "tensorflow"]);

/** Tensors known to be finite: the gradients clipByGlobalNorm returned after checking their norm. */
const knownFinite = new WeakSet<Tensor>();

/** Marks `tensors` as checked finite, so an optimizer step need not look at them again. */
export function markFinite(tensors: Iterable<Tensor>): void {
  for (const t of tensors) knownFinite.add(t);
}

/**
 * Throws an `OptimError` with code `"non_finite_gradient"` naming every variable whose gradient
 * holds a NaN or ±Infinity. Reads nothing when every gradient is already known finite.
 * `hostMemory` chooses the path (defaults to whether the active backend keeps tensors in this
 * process's memory).
 */
export function assertFiniteGradients(
  owner: string,
  pairs: readonly [string, Tensor][],
  options: { hostMemory?: boolean } = {},
): void {
  const unchecked = pairs.filter(([, g]) => !knownFinite.has(g));
  if (unchecked.length === 0) return;
  let ok: boolean[];
  if (options.hostMemory ?? HOST_BACKENDS.has(getBackend())) {
    ok = unchecked.map(([, g]) => {
      const values = g.dataSync();
      for (let i = 0; i < values.length; i++) {
        // x − x is 0 for every finite x and NaN for NaN and ±Infinity: one comparison per value.
        const v = values[i] as number;
        if (v - v !== 0) return false;
      }
      return true;
    });
  } else {
    const flags = tidy(() => stack(unchecked.map(([, g]) => all(finite(g)))));
    ok = Array.from(flags.dataSync(), (f) => f !== 0);
    flags.dispose();
  }
  const bad = unchecked.filter((_, i) => !ok[i]).map(([name]) => JSON.stringify(name));
  if (bad.length > 0) {
    throw new OptimError(
      "non_finite_gradient",
      `${owner}.applyGradients: expected finite gradients, got NaN or Infinity in the gradient of ${bad.join(", ")}; nothing was applied (every variable and optimizer slot is unchanged) — skip this step or lower the learning rate`,
    );
  }
}
