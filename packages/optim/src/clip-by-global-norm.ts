// Global-norm gradient clipping with PyTorch's clip_grad_norm_ semantics, refusing non-finite norms.
import {
  engine,
  mul,
  type NamedTensorMap,
  norm,
  stack,
  type Tensor,
  tidy,
} from "@tensorflow/tfjs-core";
import { OptimError } from "./errors.js";
import { markFinite } from "./finite-gradients.js";
import { canFuse } from "./fused-kernels.js";
import { L2_NORMS, type L2NormsInputs } from "./kernel-names.js";
import { checkNumber } from "./validate.js";

/** What {@link clipByGlobalNorm} returns. */
export interface ClipResult<G> {
  /** The gradients to apply: new tensors the caller owns (and disposes), same keys/order as given. */
  grads: G;
  /** The global L2 norm of the gradients before clipping. */
  totalNorm: number;
  /** Whether they were scaled down (totalNorm + 1e-6 > maxNorm). */
  clipped: boolean;
}

/**
 * Scales all gradients together so that their global L2 norm is at most `maxNorm`, as PyTorch's
 * `clip_grad_norm_`: the factor is `maxNorm / (totalNorm + 1e-6)`, applied only when it is < 1.
 * Returns new gradient tensors (the inputs are untouched; dispose both) and the norm before clipping.
 *
 * A NaN or infinite norm throws an `OptimError` with code `"non_finite_norm"` naming the
 * gradients at fault: such gradients would destroy the weights, so they are never applied silently.
 * Catch it to skip the step (and lower the learning rate) if that is the policy you want.
 */
export function clipByGlobalNorm(
  grads: NamedTensorMap,
  maxNorm: number,
): ClipResult<NamedTensorMap>;
export function clipByGlobalNorm(grads: Tensor[], maxNorm: number): ClipResult<Tensor[]>;
export function clipByGlobalNorm(
  grads: NamedTensorMap | Tensor[],
  maxNorm: number,
): ClipResult<NamedTensorMap | Tensor[]> {
  checkNumber("clipByGlobalNorm", "maxNorm", maxNorm, { min: 0, minExclusive: true });
  const entries: [string, Tensor][] = Array.isArray(grads)
    ? grads.map((g, i) => [`grads[${i}]`, g])
    : Object.entries(grads);
  if (entries.length === 0) {
    return { grads: Array.isArray(grads) ? [] : {}, totalNorm: 0, clipped: false };
  }
  // One read-back for all per-tensor norms: it tells which tensors are at fault when the total is
  // not finite. One kernel for all of them where the backend has it, ~4 per tensor otherwise.
  const norms = canFuse(
    L2_NORMS,
    entries.map(([, g]) => g),
  )
    ? (engine().runKernel(
        L2_NORMS,
        Object.fromEntries(
          entries.map(([, g], i) => [String(i), g]),
        ) satisfies L2NormsInputs<Tensor>,
      ) as Tensor)
    : tidy(() => stack(entries.map(([, g]) => norm(g))));
  const perTensor = norms.dataSync();
  norms.dispose();
  let sumSquares = 0;
  for (const n of perTensor) sumSquares += n * n;
  const totalNorm = Math.sqrt(sumSquares);
  if (!Number.isFinite(totalNorm)) {
    const bad = entries.filter((_, i) => !Number.isFinite(perTensor[i]!)).map(([name]) => name);
    throw new OptimError(
      "non_finite_norm",
      `clipByGlobalNorm: expected a finite gradient norm, got ${totalNorm} (non-finite norm in ${
        bad.length > 0
          ? bad.map((b) => JSON.stringify(b)).join(", ")
          : "the sum of squares: overflow"
      }); refusing to clip or apply these gradients — skip this step or lower the learning rate`,
    );
  }
  const coefficient = maxNorm / (totalNorm + 1e-6);
  const clipped = coefficient < 1;
  const scale = (g: Tensor): Tensor => (clipped ? mul(g, coefficient) : g.clone());
  const out = Array.isArray(grads)
    ? grads.map(scale)
    : Object.fromEntries(entries.map(([name, g]) => [name, scale(g)]));
  // Their norm was finite: the optimizer step that applies them need not check them again.
  markFinite(Object.values(out));
  return { grads: out, totalNorm, clipped };
}
