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
import { markFinite, namedEntries } from "./finite-gradients.js";
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
  const norms = perTensorNorms(grads, maxNorm);
  if (norms === null) return empty(grads);
  const perTensor = norms.dataSync();
  norms.dispose();
  return scaled(grads, maxNorm, perTensor);
}

/**
 * {@link clipByGlobalNorm} with its one read of the norms made asynchronously
 * (`await tensor.data()`): for backends that cannot (WebGPU in Node) or should not (a GPU in a
 * page) be read synchronously. The same result, the same errors.
 */
export async function clipByGlobalNormAsync(
  grads: NamedTensorMap,
  maxNorm: number,
): Promise<ClipResult<NamedTensorMap>>;
export async function clipByGlobalNormAsync(
  grads: Tensor[],
  maxNorm: number,
): Promise<ClipResult<Tensor[]>>;
export async function clipByGlobalNormAsync(
  grads: NamedTensorMap | Tensor[],
  maxNorm: number,
): Promise<ClipResult<NamedTensorMap | Tensor[]>> {
  const norms = perTensorNorms(grads, maxNorm);
  if (norms === null) return empty(grads);
  try {
    return scaled(grads, maxNorm, await norms.data());
  } finally {
    norms.dispose();
  }
}

function empty(grads: NamedTensorMap | Tensor[]): ClipResult<NamedTensorMap | Tensor[]> {
  return { grads: Array.isArray(grads) ? [] : {}, totalNorm: 0, clipped: false };
}

/** The L2 norm of each gradient, one tensor, in entry order; `null` when there are none. */
function perTensorNorms(grads: NamedTensorMap | Tensor[], maxNorm: number): Tensor | null {
  checkNumber("clipByGlobalNorm", "maxNorm", maxNorm, { min: 0, minExclusive: true });
  const tensors = namedEntries(grads).map(([, g]) => g);
  if (tensors.length === 0) return null;
  // One read-back for all per-tensor norms: it tells which tensors are at fault when the total is
  // not finite. One kernel for all of them where the backend has it, ~4 per tensor otherwise.
  return canFuse(L2_NORMS, tensors)
    ? (engine().runKernel(
        L2_NORMS,
        Object.fromEntries(tensors.map((g, i) => [String(i), g])) satisfies L2NormsInputs<Tensor>,
      ) as Tensor)
    : tidy(() => stack(tensors.map((g) => norm(g))));
}

/** The clipped gradients from the per-tensor norms read back, or the non-finite error. */
function scaled(
  grads: NamedTensorMap | Tensor[],
  maxNorm: number,
  perTensor: ArrayLike<number>,
): ClipResult<NamedTensorMap | Tensor[]> {
  const entries = namedEntries(grads);
  let sumSquares = 0;
  for (let i = 0; i < perTensor.length; i++) sumSquares += perTensor[i]! * perTensor[i]!;
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
