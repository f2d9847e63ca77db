// The check every optimizer step makes before it touches anything: are all the gradients finite?
// One pass over them and one read-back: the L2-norms kernel where the backend has it (it sums in
// float64, so a finite float32 gradient cannot overflow it), `isFinite` + `all` per tensor
// otherwise. Gradients `clipByGlobalNorm` returned are finite by construction and skip it.
import { all, engine, isFinite as finite, stack, type Tensor, tidy } from "@tensorflow/tfjs-core";
import { OptimError } from "./errors.js";
import { canFuse, L2_NORMS_KERNEL } from "./fused-kernels.js";

/** Tensors known to be finite: the gradients clipByGlobalNorm returned after checking their norm. */
const knownFinite = new WeakSet<Tensor>();

/** Marks `tensors` as checked finite, so an optimizer step need not look at them again. */
export function markFinite(tensors: Iterable<Tensor>): void {
  for (const t of tensors) knownFinite.add(t);
}

/**
 * Throws an `OptimError` with code `"non_finite_gradient"` naming every variable whose gradient
 * holds a NaN or ±Infinity (or, on the fused path, a norm beyond float32's range). Reads nothing
 * back when every gradient is already known finite.
 */
export function assertFiniteGradients(owner: string, pairs: readonly [string, Tensor][]): void {
  const unchecked = pairs.filter(([, g]) => !knownFinite.has(g));
  if (unchecked.length === 0) return;
  const tensors = unchecked.map(([, g]) => g);
  let ok: ArrayLike<number>;
  if (canFuse(L2_NORMS_KERNEL, tensors)) {
    const norms = engine().runKernel(
      L2_NORMS_KERNEL,
      Object.fromEntries(tensors.map((g, i) => [String(i), g])),
    ) as Tensor;
    const values = norms.dataSync();
    norms.dispose();
    ok = Array.from(values, (n) => (Number.isFinite(n) ? 1 : 0));
  } else {
    const flags = tidy(() => stack(tensors.map((g) => all(finite(g)))));
    ok = flags.dataSync();
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
