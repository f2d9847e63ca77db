// The check every optimizer step makes before it touches anything: are all the gradients finite?
// One pass over them. Where tensors live in this process's memory (cpu, wasm, tfjs-node) the
// values are read directly, with no kernel dispatched (the fused-kernel backends' step stays one
// kernel per variable); elsewhere (webgl, webgpu) `isFinite` + `all` per tensor and one
// read-back. Gradients `clipByGlobalNorm` returned, or `checkFiniteGradients` passed, are
// finite by construction and skip it.
//
// A GPU backend cannot be read synchronously everywhere: WebGPU in Node (Dawn) cannot at all,
// and in a page a synchronous read stalls the GPU. `applyGradients` is synchronous (tfjs's
// Optimizer contract), so on such backends the check is made before it, asynchronously:
// `await checkFiniteGradients(grads)` (or `await clipByGlobalNormAsync(...)`), which
// `@cnnkit/train`'s `trainStep` does.
import {
  all,
  isFinite as finite,
  getBackend,
  type NamedTensorMap,
  stack,
  type Tensor,
  tidy,
} from "@tensorflow/tfjs-core";
import { OptimError } from "./errors.js";

/** Backends whose tensors are host memory: reading them costs one copy at most. */
const HOST_BACKENDS = new Set(["cpu", "wasm", "tensorflow"]);

/**
 * Whether `backend` (default: the active one) keeps tensors in this process's memory (cpu,
 * wasm, tfjs-node), where a synchronous read is a copy; on the others (webgl, webgpu) read with
 * `await tensor.data()` and check gradients with {@link checkFiniteGradients}.
 */
export function isHostMemoryBackend(backend: string = getBackend()): boolean {
  return HOST_BACKENDS.has(backend);
}

/** Tensors known to be finite: the gradients clipByGlobalNorm returned after checking their norm. */
const knownFinite = new WeakSet<Tensor>();

/** Marks `tensors` as checked finite, so an optimizer step need not look at them again. */
export function markFinite(tensors: Iterable<Tensor>): void {
  for (const t of tensors) knownFinite.add(t);
}

/** `[name, tensor]` pairs of a gradient map or list (`grads[i]` for a list). */
export function namedEntries(grads: NamedTensorMap | readonly Tensor[]): [string, Tensor][] {
  return Array.isArray(grads)
    ? grads.map((g, i) => [`grads[${i}]`, g])
    : Object.entries(grads as NamedTensorMap);
}

function refuse(owner: string, names: readonly string[]): never {
  throw new OptimError(
    "non_finite_gradient",
    `${owner}: expected finite gradients, got NaN or Infinity in the gradient of ${names.map((n) => JSON.stringify(n)).join(", ")}; nothing was applied (every variable and optimizer slot is unchanged) — skip this step or lower the learning rate`,
  );
}

function allFiniteOnHost(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) {
    // x − x is 0 for every finite x and NaN for NaN and ±Infinity: one comparison per value.
    const v = values[i] as number;
    if (v - v !== 0) return false;
  }
  return true;
}

/** One tensor of 0/1 flags, one per gradient: all of its values finite. */
function finiteFlags(pairs: readonly [string, Tensor][]): Tensor {
  return tidy(() => stack(pairs.map(([, g]) => all(finite(g)))));
}

/**
 * Throws an `OptimError` with code `"non_finite_gradient"` naming every variable whose gradient
 * holds a NaN or ±Infinity. Reads nothing when every gradient is already known finite.
 * `hostMemory` chooses the path (defaults to whether the active backend keeps tensors in this
 * process's memory). On a backend that cannot be read synchronously it throws
 * `"needs_async_check"`, saying to call {@link checkFiniteGradients} first.
 */
export function assertFiniteGradients(
  owner: string,
  pairs: readonly [string, Tensor][],
  options: { hostMemory?: boolean } = {},
): void {
  const unchecked = pairs.filter(([, g]) => !knownFinite.has(g));
  if (unchecked.length === 0) return;
  let ok: boolean[];
  if (options.hostMemory ?? isHostMemoryBackend()) {
    ok = unchecked.map(([, g]) => allFiniteOnHost(g.dataSync()));
  } else {
    const flags = finiteFlags(unchecked);
    try {
      ok = Array.from(flags.dataSync(), (f) => f !== 0);
    } catch (error) {
      throw new OptimError(
        "needs_async_check",
        `${owner}.applyGradients: the ${getBackend()} backend cannot read the gradients synchronously to check them for NaN/Infinity (${error instanceof Error ? error.message : String(error)}); await checkFiniteGradients(grads) (or clipByGlobalNormAsync) from @cnnkit/optim before applyGradients — @cnnkit/train's trainStep does`,
        { cause: error },
      );
    } finally {
      flags.dispose();
    }
  }
  const bad = unchecked.filter((_, i) => !ok[i]).map(([name]) => name);
  if (bad.length > 0) refuse(`${owner}.applyGradients`, bad);
}

/**
 * Checks gradients for NaN and ±Infinity with one asynchronous read, for backends that cannot
 * (WebGPU in Node) or should not (a GPU in a page) be read synchronously: throws an `OptimError`
 * with code `"non_finite_gradient"` naming every one at fault, else marks them checked, so the
 * optimizer's synchronous `applyGradients` of these same tensors reads nothing. On host-memory
 * backends (cpu, wasm, tfjs-node) it reads them directly, as `applyGradients` would.
 *
 * ```ts
 * const { grads } = classifierGradients(model, x, y);
 * await checkFiniteGradients(grads);
 * optimizer.applyGradients(grads);
 * ```
 */
export async function checkFiniteGradients(
  grads: NamedTensorMap | readonly Tensor[],
): Promise<void> {
  const unchecked = namedEntries(grads).filter(([, g]) => !knownFinite.has(g));
  if (unchecked.length === 0) return;
  let ok: boolean[];
  if (isHostMemoryBackend()) {
    ok = await Promise.all(unchecked.map(async ([, g]) => allFiniteOnHost(await g.data())));
  } else {
    const flags = finiteFlags(unchecked);
    try {
      ok = Array.from(await flags.data(), (f) => f !== 0);
    } finally {
      flags.dispose();
    }
  }
  const bad = unchecked.filter((_, i) => !ok[i]).map(([name]) => name);
  if (bad.length > 0) refuse("checkFiniteGradients", bad);
  markFinite(unchecked.map(([, g]) => g));
}
