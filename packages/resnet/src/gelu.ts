// GELU as one kernel forward and one backward, where the backend has them.
//
// tfjs-layers' `gelu` activation is a composition, x · 0.5 · (1 + erf(x / √2)): four passes over
// the activations forward, and autodiff adds eight more backward (Erf's gradient alone is Square,
// Neg, Exp and two Multiplies), each writing a tensor as large as the activation, and the tape
// keeps four of them per GELU until the backward pass. fastResNet has seven GELUs on its largest
// activations: on wasm they were ~25% of a training step (widths 32/128/128, batch 256), and at
// batch 1,024 their intermediates pushed the wasm heap to its 4 GiB ceiling, where allocation
// slowed to a crawl (one step took over ten minutes).
//
// `gelu(x)` runs GELU (`x → y`) and GELU_GRAD (`dy, x → dx`) where both are registered for the
// active backend (`@cnnkit/backends` registers them on wasm, as WebAssembly SIMD loops that
// repeat the composition's float32 operations, so the numbers are the same bits), and the
// composition, differentiated by tfjs, everywhere else. Either way the value is tfjs-layers'
// `gelu`, and `geluActivation` serialises as its `Activation` layer: a saved model loads in plain
// tfjs.
import * as tf from "@tensorflow/tfjs-core";
import { layers } from "@tensorflow/tfjs-layers";
import type { Layer } from "@tensorflow/tfjs-layers/dist/engine/topology.js";
import type { Kwargs } from "@tensorflow/tfjs-layers/dist/types.js";
import { ResNetError } from "./errors.js";
import { GELU, GELU_GRAD, type GeluGradInputs, type GeluInputs } from "./kernel-names.js";

/** The kernels `gelu` runs where the backend registers both (contracts: `./kernel-names`). */
export const GELU_KERNELS = { forward: GELU, gradient: GELU_GRAD } as const;

/** tfjs-layers' `gelu`, op for op: Φ(x) = 0.5 · (1 + erf(x / √2)), then x · Φ(x). */
function geluComposite(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.mul(0.5, tf.add(1, tf.erf(tf.div(x, Math.SQRT2))))));
}

const geluFused = tf.customGrad((...args: (tf.Tensor | ((saved: tf.Tensor[]) => void))[]) => {
  const x = args[0] as tf.Tensor;
  const save = args[1] as (saved: tf.Tensor[]) => void;
  const inputs: GeluInputs<tf.Tensor> = { x };
  save([x]);
  return {
    value: tf.engine().runKernel(GELU, inputs) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const gradInputs: GeluGradInputs<tf.Tensor> = { dy, x: saved[0] as tf.Tensor };
      return tf.engine().runKernel(GELU_GRAD, gradInputs) as tf.Tensor;
    },
  };
});

function hasGeluKernels(): boolean {
  const backend = tf.getBackend();
  return (
    tf.getKernel(GELU, backend) !== undefined && tf.getKernel(GELU_GRAD, backend) !== undefined
  );
}

/**
 * GELU, the exact (erf) form PyTorch's `nn.GELU()` computes: `x · Φ(x)`. Its value and gradient
 * are tfjs-layers' `gelu`'s; where the backend has the fused kernels (`GELU_KERNELS`) it runs
 * one kernel each way and keeps only `x` for the backward pass. The fused path has no gradient
 * of its gradient (second-order autodiff): use the composition (`tf.layers` `gelu`) for that.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return x.dtype === "float32" && hasGeluKernels() ? geluFused(x) : geluComposite(x);
}

type ActivationClass = new (args: { name?: string; activation: "gelu" }) => Layer;
let geluActivationClass: ActivationClass | undefined;

/** tfjs-layers' Activation layer whose `gelu` runs `gelu` above; serialises as the built-in. */
function getGeluActivationClass(): ActivationClass {
  if (geluActivationClass !== undefined) return geluActivationClass;
  const Base = Object.getPrototypeOf(
    layers.activation({ activation: "gelu", name: "cnnkit_probe_gelu" }),
  ).constructor as new (args: {
    name?: string;
    activation: "gelu";
  }) => Layer;

  class GeluActivation extends Base {
    // The built-in name and config: toJSON()/save() give a model plain tfjs loads.
    static className = "Activation";

    override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined || (Array.isArray(inputs) && inputs.length !== 1)) {
        throw new ResNetError(
          "invalid_option",
          `layer "${this.name}": GELU takes one input tensor`,
        );
      }
      return gelu(x);
    }
  }
  geluActivationClass = GeluActivation;
  return geluActivationClass;
}

/**
 * A GELU layer: `tf.layers.activation({ activation: "gelu" })` with the fused kernels where the
 * backend has them. Drop it into any tfjs-layers model in place of the built-in.
 */
export function geluActivation(args: { name?: string } = {}): Layer {
  const GeluActivation = getGeluActivationClass();
  return new GeluActivation({ ...args, activation: "gelu" });
}
