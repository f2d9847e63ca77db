import * as tf from "@tensorflow/tfjs-core";
import { layers, models, sequential } from "@tensorflow/tfjs-layers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { useCpu } from "../test/helpers.js";
import { GELU_KERNELS, gelu, geluActivation } from "./gelu.js";
import { GELU, GELU_GRAD } from "./kernel-names.js";

beforeAll(useCpu);

const xs = [-6, -3.5, -1.25, -0.5, -1e-3, 0, 1e-3, 0.7, 1, 2.5, 4, 9];

/** erf in float64 (Abramowitz & Stegun 7.1.26 is too coarse here): its Taylor/continued forms. */
function erf64(x: number): number {
  const a = Math.abs(x);
  let r: number;
  if (a < 3) {
    // Σ (-1)^n x^(2n+1) / (n! (2n+1)), summed until it stops changing.
    let term = a;
    let sum = a;
    for (let n = 1; n < 200; n++) {
      term *= (-a * a) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc continued fraction (Lentz), for the tail.
    let f = a;
    for (let k = 60; k >= 1; k--) f = a + k / 2 / f;
    r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  }
  return x < 0 ? -r : r;
}
const phi = (x: number) => 0.5 * (1 + erf64(x / Math.SQRT2));
const density = (x: number) => Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI);

describe("gelu", () => {
  it("is x·Φ(x), PyTorch's exact GELU, and its derivative Φ(x) + x·φ(x)", () => {
    const x = tf.tensor1d(xs);
    const [y, dx] = tf.tidy(() => [gelu(x).arraySync(), tf.grad((t: tf.Tensor) => gelu(t))(x)]);
    const dxs = (dx as tf.Tensor).arraySync() as number[];
    xs.forEach((v, i) => {
      expect((y as number[])[i]).toBeCloseTo(v * phi(v), 6);
      expect(dxs[i]).toBeCloseTo(phi(v) + v * density(v), 5);
    });
    tf.dispose([x, dx as tf.Tensor]);
  });

  it("without the fused kernels is tfjs-layers' gelu exactly, value and gradient", () => {
    const x = tf.tensor2d(xs, [3, 4]);
    const builtIn = layers.activation({ activation: "gelu" });
    const ours = tf.tidy(() => [gelu(x), tf.grad((t: tf.Tensor) => gelu(t))(x)]);
    const theirs = tf.tidy(() => [
      builtIn.apply(x) as tf.Tensor,
      tf.grad((t: tf.Tensor) => builtIn.apply(t) as tf.Tensor)(x),
    ]);
    for (let i = 0; i < 2; i++) {
      expect(Array.from((ours[i] as tf.Tensor).dataSync())).toEqual(
        Array.from((theirs[i] as tf.Tensor).dataSync()),
      );
    }
    tf.dispose([x, ...ours, ...theirs]);
  });

  describe("with the fused kernels registered", () => {
    const calls: string[] = [];
    afterEach(() => {
      for (const name of [GELU, GELU_GRAD]) tf.unregisterKernel(name, "cpu");
      calls.length = 0;
    });

    /** Kernels in float64 from the formulas, so that results show which path ran. */
    function registerReferenceKernels() {
      const run = (name: string, f: (v: Float32Array[]) => Float32Array) =>
        tf.registerKernel({
          kernelName: name,
          backendName: "cpu",
          kernelFunc: ({ inputs, backend }) => {
            calls.push(`${name}(${Object.keys(inputs).join(", ")})`);
            const cpu = backend as unknown as {
              readSync(id: object): Float32Array;
              makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo;
            };
            const ins = Object.values(inputs) as tf.TensorInfo[];
            const out = f(ins.map((t) => cpu.readSync(t.dataId)));
            return cpu.makeTensorInfo((ins[0] as tf.TensorInfo).shape, "float32", out);
          },
        });
      run(GELU, ([x]) => (x as Float32Array).map((v) => v * phi(v)));
      run(GELU_GRAD, ([dy, x]) =>
        (x as Float32Array).map((v, i) => (dy as Float32Array)[i]! * (phi(v) + v * density(v))),
      );
    }

    it("runs one kernel forward and one backward, the backward given dy and x", () => {
      registerReferenceKernels();
      const x = tf.tensor1d(xs);
      const dy = tf.tensor1d(xs.map((_, i) => 1 + i / 10));
      const dx = tf.grad((t: tf.Tensor) => tf.mul(gelu(t), dy))(x);
      expect(calls).toEqual([`${GELU}(x)`, `${GELU_GRAD}(dy, x)`]);
      const got = dx.dataSync();
      xs.forEach((v, i) => {
        expect(got[i]).toBeCloseTo((1 + i / 10) * (phi(v) + v * density(v)), 5);
      });
      tf.dispose([x, dy, dx]);
    });

    it("keeps only x for the backward pass: no intermediates live until the gradient runs", () => {
      const x = tf.tensor4d(
        Array.from({ length: 64 }, (_, i) => i / 8 - 4),
        [1, 4, 4, 4],
      );
      // Tensors alive when the backward pass reaches `kernel` (Exp: the composition's Erf
      // gradient; GELU_GRAD: the fused one), counted from before the forward pass.
      const liveAtBackward = (kernel: string) => {
        const original = tf.getKernel(kernel, "cpu")!;
        let live = -1;
        const before = tf.memory().numTensors;
        tf.unregisterKernel(kernel, "cpu");
        tf.registerKernel({
          ...original,
          kernelFunc: (args) => {
            live = tf.memory().numTensors - before;
            return original.kernelFunc(args);
          },
        });
        try {
          tf.grad((t: tf.Tensor) => gelu(t))(x).dispose();
        } finally {
          tf.unregisterKernel(kernel, "cpu");
          tf.registerKernel(original);
        }
        expect(tf.memory().numTensors).toBe(before);
        return live;
      };
      const composite = liveAtBackward("Exp");
      registerReferenceKernels();
      const fused = liveAtBackward(GELU_GRAD);
      // y, the seed dy and customGrad's handle on x; the composition also holds x/√2, erf(·),
      // 1 + erf(·), Φ and the gradients made so far.
      expect(fused).toBe(3);
      expect(composite).toBeGreaterThanOrEqual(fused + 4);
      x.dispose();
    });

    it("uses the composition for int32 input, which the kernels do not take", () => {
      registerReferenceKernels();
      const y = gelu(tf.tensor1d([1, 2], "int32"));
      expect(calls).toEqual([]);
      expect(y.dtype).toBe("float32");
      y.dispose();
    });
  });

  it("names its kernels as the contracts in ./kernel-names do", () => {
    expect(GELU_KERNELS).toEqual({ forward: "CnnkitGelu", gradient: "CnnkitGeluGrad" });
  });
});

describe("geluActivation", () => {
  it("saves as tfjs's built-in Activation layer, and plain tfjs loads it with the same outputs", async () => {
    const model = sequential({
      layers: [
        layers.dense({ inputShape: [3], units: 4, kernelInitializer: "ones", name: "d" }),
        geluActivation({ name: "g" }),
      ],
    });
    const json = model.toJSON(null, false) as {
      config: { layers: { class_name: string; config: { activation?: string } }[] };
    };
    const g = json.config.layers.find((l) => l.config.activation === "gelu");
    expect(g?.class_name).toBe("Activation");
    const loaded = await models.modelFromJSON({ modelTopology: json });
    loaded.setWeights(model.getWeights());
    const x = tf.tensor2d([[-1, 0.5, 2]]);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(loaded.getLayer("g").constructor).not.toBe(model.getLayer("g").constructor);
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it("refuses more than one input, naming the layer", () => {
    const layer = geluActivation({ name: "two" });
    const t = tf.ones([2]);
    expect(() => layer.apply([t, t])).toThrow(/layer "two": GELU takes one input tensor/);
    t.dispose();
  });
});
