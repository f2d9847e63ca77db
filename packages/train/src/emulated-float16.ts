// Mixed-precision training emulated in float32: the forward and backward pass of a step with
// every value rounded to float16 where a GPU running PyTorch's autocast would store it in half,
// against float32 master weights. It teaches what mixed precision does to the numbers (gradients
// flushing to zero, overflow, loss scaling); it cannot make anything faster, since tfjs has no
// float16 arithmetic: every operation still runs in float32, plus the rounding.
//
// Rounded to half: the input batch; the weights of every Conv2D and Dense layer (a half copy
// used for the forward pass, as autocast casts them; the float32 masters are restored before the
// update); every layer's output; the gradient arriving at every layer's output on the way back;
// every weight gradient. In float32: the arithmetic inside each layer, BatchNorm's own weights
// and statistics, the loss and its scaling, the unscaled gradients, clipping and the update.
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { classifierGradients } from "./classifier-gradients.js";
import type { DynamicLossScaler } from "./dynamic-loss-scaler.js";
import { type HalfRounding, halfTensor, roundToHalfObserved } from "./round-to-half.js";

/** `trainStep`'s `float16` option: emulated float16 mixed precision. */
export interface Float16Options {
  /**
   * Dynamic loss scaling (PyTorch's GradScaler): the step multiplies the loss by `scaler.scale`,
   * skips the update when a half gradient overflowed, and calls `scaler.update`. `null` trains
   * without loss scaling, where gradients below 2⁻²⁵ flush to zero.
   */
  scaler: DynamicLossScaler | null;
}

/** Gradient values of one tensor: how many were nonzero in float32, and how many of those became zero in half. */
export interface HalfUnderflow {
  nonzero: number;
  flushed: number;
}

/** What an emulated float16 step did (`TrainStepResult.float16`). */
export interface Float16StepReport {
  /** The scale this step's loss was multiplied by (1 without a scaler). */
  lossScale: number;
  /** A half gradient held Inf/NaN: nothing was applied and the scaler backed off. */
  skipped: boolean;
  /** Per trainable variable (keyed as `grads`), its weight gradient rounded to half (scaled). */
  weightGradients: Record<string, HalfUnderflow>;
  /** Per layer (in the model's layer order, input layers aside), the gradient of its output as it flowed back in half (scaled). */
  activationGradients: Record<string, HalfUnderflow>;
}

/** Flushed / nonzero over every tensor of a report's section: the fraction of gradient values lost to underflow. */
export function underflowFraction(counts: Record<string, HalfUnderflow>): number {
  let nonzero = 0;
  let flushed = 0;
  for (const c of Object.values(counts)) {
    nonzero += c.nonzero;
    flushed += c.flushed;
  }
  return nonzero === 0 ? 0 : flushed / nonzero;
}

/** Layers whose weights autocast casts to half (BatchNorm keeps float32 weights). */
const HALF_WEIGHT_LAYERS = new Set(["Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense"]);

/** Adds what one rounding did to a tensor's underflow count. */
function tally(counts: Record<string, HalfUnderflow>, key: string, r: HalfRounding): void {
  const c = counts[key] ?? { nonzero: 0, flushed: 0 };
  counts[key] = { nonzero: c.nonzero + r.nonzero, flushed: c.flushed + r.flushed };
}

/**
 * Runs `body` with the model in float16 emulation: Conv/Dense weights replaced by their half
 * values (the masters restored afterwards, whatever happens), and every layer's output rounded
 * to half, its gradient too on the way back (what that did tallied per layer in `counts`).
 */
function withHalfModel<T>(
  model: LayersModel,
  counts: Record<string, HalfUnderflow>,
  body: () => T,
): T {
  const masters: [tf.Variable, tf.Tensor][] = [];
  const patched: [(typeof model.layers)[number], PropertyDescriptor | undefined][] = [];
  try {
    for (const layer of model.layers) {
      const className = layer.getClassName();
      if (className === "InputLayer") continue;
      if (HALF_WEIGHT_LAYERS.has(className)) {
        for (const w of layer.weights) {
          const variable = w.read() as tf.Variable;
          // clone shares the data: the master costs no copy and comes back by assign.
          masters.push([variable, tf.clone(variable)]);
          const { half } = halfTensor(variable);
          variable.assign(half);
          half.dispose();
        }
      }
      counts[layer.name] = { nonzero: 0, flushed: 0 }; // the model's layer order
      patched.push([layer, Object.getOwnPropertyDescriptor(layer, "call")]);
      const call = layer.call;
      const observe = (r: HalfRounding) => tally(counts, layer.name, r);
      layer.call = (inputs, kwargs) => {
        const out = call.call(layer, inputs, kwargs);
        return Array.isArray(out)
          ? out.map((t) => roundToHalfObserved(t, observe))
          : roundToHalfObserved(out, observe);
      };
    }
    return body();
  } finally {
    for (const [layer, own] of patched) {
      if (own) Object.defineProperty(layer, "call", own);
      else delete (layer as { call?: unknown }).call;
    }
    for (const [variable, master] of masters) {
      variable.assign(master);
      master.dispose();
    }
  }
}

/** What the emulated forward and backward pass computed, before anything is applied. */
export interface HalfGradients {
  /** Mean softmax cross-entropy of the batch (float32, unscaled; the caller's to dispose). */
  value: tf.Scalar;
  /** Correct top-1 predictions of the same forward pass (int32; the caller's to dispose). */
  correct: tf.Scalar;
  /** Each trainable variable's gradient rounded to half at the loss scale, then multiplied by `inverseScale` in float32 (the caller's to dispose). */
  grads: tf.NamedTensorMap;
  /** Half gradient values that were Inf or NaN (overflow at this loss scale). */
  nonFinite: number;
  weightGradients: Record<string, HalfUnderflow>;
  activationGradients: Record<string, HalfUnderflow>;
}

/**
 * The emulated float16 forward and backward pass of one batch (see the file's first comment for
 * what is rounded): `classifierGradients` with half storage, the loss multiplied by `lossScale`
 * before the backward pass, the weight gradients rounded to half, then unscaled in float32.
 */
export function halfGradients(
  model: LayersModel,
  x: tf.Tensor,
  y: tf.Tensor1D,
  options: { labelSmoothing?: number; lossScale: number; inverseScale: number },
): HalfGradients {
  const activationGradients: Record<string, HalfUnderflow> = {};
  const input = halfTensor(x).half;
  let raw: tf.NamedTensorMap = {};
  try {
    // The loss is computed in float32 from half logits (as autocast computes cross-entropy) and
    // scaled in float32: its gradient enters half precision at the logits' rounding.
    const { value, correct, grads } = withHalfModel(model, activationGradients, () =>
      classifierGradients(model, input, y, {
        labelSmoothing: options.labelSmoothing,
        lossScale: options.lossScale,
      }),
    );
    raw = grads;
    const weightGradients: Record<string, HalfUnderflow> = {};
    const unscaled: tf.NamedTensorMap = {};
    let nonFinite = 0;
    try {
      for (const [name, g] of Object.entries(raw)) {
        const { half, rounding } = halfTensor(g);
        tally(weightGradients, name, rounding);
        nonFinite += rounding.nonFinite;
        unscaled[name] = tf.mul(half, options.inverseScale);
        half.dispose();
      }
    } catch (error) {
      tf.dispose([value, correct, ...Object.values(unscaled)]);
      throw error;
    }
    return { value, correct, grads: unscaled, nonFinite, weightGradients, activationGradients };
  } finally {
    tf.dispose([input, ...Object.values(raw)]);
  }
}
