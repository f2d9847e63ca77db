import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  closeness,
  fixture,
  type GoldenCase,
  makeOptimizer,
  Problem,
  train,
  useCpu,
} from "../test/golden-problem.js";
import {
  ADAMW_UPDATE_KERNEL,
  AdamW,
  batchNormBiases,
  decayKernelsOnly,
  SGD,
  SGD_UPDATE_KERNEL,
} from "./index.js";

beforeAll(useCpu);
afterEach(() => {
  tf.disposeVariables();
});

describe("parameter groups", () => {
  it("give a group learningRate × lrScale at every lr, and its own weight decay", () => {
    const vars = {
      k: tf.variable(tf.ones([2]), true, "g/conv/kernel"),
      b: tf.variable(tf.ones([2]), true, "g/bn/beta"),
      c: tf.variable(tf.ones([2]), true, "g/conv/bias"),
    };
    const sgd = new SGD({
      learningRate: 0.1,
      weightDecay: 0.01,
      decayFilter: decayKernelsOnly,
      groups: [{ match: batchNormBiases, lrScale: 64, weightDecay: 0.5 }],
    });
    expect(sgd.hyperparametersFor("g/bn/beta")).toEqual({
      learningRate: 0.1 * 64,
      weightDecay: 0.5,
    });
    // The rest: the optimizer's lr, its weight decay where the decayFilter says so.
    expect(sgd.hyperparametersFor("g/conv/kernel")).toEqual({
      learningRate: 0.1,
      weightDecay: 0.01,
    });
    expect(sgd.hyperparametersFor("g/conv/bias")).toEqual({ learningRate: 0.1, weightDecay: 0 });
    sgd.learningRate = 0.02; // as a schedule does: every group follows
    expect(sgd.hyperparametersFor("g/bn/beta").learningRate).toBe(0.02 * 64);

    // One plain SGD step (no momentum): p ← p − lr·(g + wd·p), each with its own lr and wd.
    tf.tidy(() =>
      sgd.applyGradients({
        "g/conv/kernel": tf.ones([2]),
        "g/bn/beta": tf.ones([2]),
        "g/conv/bias": tf.ones([2]),
      }),
    );
    expect(vars.b.dataSync()[0]).toBeCloseTo(1 - 0.02 * 64 * (1 + 0.5), 6);
    expect(vars.k.dataSync()[0]).toBeCloseTo(1 - 0.02 * (1 + 0.01), 6);
    expect(vars.c.dataSync()[0]).toBeCloseTo(1 - 0.02, 6);
    sgd.dispose();
  });

  it("take the first group that matches; a group without weightDecay keeps the optimizer's, filtered", () => {
    const adam = new AdamW({
      learningRate: 0.01,
      weightDecay: 0.1,
      decayFilter: decayKernelsOnly,
      groups: [
        { match: /\/beta$/g, lrScale: 8 }, // a global RegExp must answer the same every time
        { match: (n) => n.startsWith("bn/"), lrScale: 0.5, weightDecay: 0 },
        { match: /kernel/, lrScale: 2 },
      ],
    });
    for (let i = 0; i < 3; i++) {
      expect(adam.hyperparametersFor("bn/beta")).toEqual({ learningRate: 0.08, weightDecay: 0 });
    }
    expect(adam.hyperparametersFor("bn/gamma")).toEqual({ learningRate: 0.005, weightDecay: 0 });
    expect(adam.hyperparametersFor("fc/kernel")).toEqual({ learningRate: 0.02, weightDecay: 0.1 });
    expect(adam.hyperparametersFor("fc/bias")).toEqual({ learningRate: 0.01, weightDecay: 0 });
    expect(adam.groups).toHaveLength(3);
  });

  it("are checked where they are given, naming the group and the option", () => {
    const bad: [unknown, RegExp][] = [
      [
        { lrScale: 2 },
        /SGD groups\[0\]: expected match to be a function .* or a RegExp, got undefined/,
      ],
      [{ match: "beta" }, /expected match to be a function .* got "beta"/],
      [
        { match: /a/, lrScale: -1 },
        /SGD groups\[0\]: expected lrScale to be a finite number in \[0, ∞\), got -1/,
      ],
      [{ match: /a/, weightDecay: Number.NaN }, /expected weightDecay .* got NaN/],
      [
        { match: /a/, lr_scale: 64 },
        /SGD groups\[0\]: unknown option "lr_scale" \(did you mean lrScale\?\)/,
      ],
      [7, /SGD groups\[0\]: expected an options object, got 7/],
    ];
    for (const [group, message] of bad) {
      expect(() => new SGD({ groups: [group as never] })).toThrow(message);
    }
    expect(() => new AdamW({ groups: { match: /a/ } as never })).toThrow(
      /AdamW: expected groups to be an array of \{ match, lrScale\?, weightDecay\? \}, got object/,
    );
    expect(
      () => new SGD({ groups: [{ match: /a/ }, { match: /b/, lrScale: "2" as never }] }),
    ).toThrow(/groups\[1\]: expected lrScale .* got "2"/);
  });

  it("batchNormBiases picks tfjs-layers' BatchNorm betas, renamed ones too, and nothing else", () => {
    const build = () => {
      const input = tfl.input({ shape: [4, 4, 3] });
      let x = tfl.layers.conv2d({ filters: 2, kernelSize: 3, name: "conv" }).apply(input);
      x = tfl.layers.batchNormalization({ name: "conv_bn" }).apply(x);
      x = tfl.layers.batchNormalization().apply(x); // auto-named batch_normalization_<n>
      x = tfl.layers.flatten().apply(x);
      x = tfl.layers.dense({ units: 2, name: "fc" }).apply(x);
      return tfl.model({ inputs: input, outputs: x as tfl.SymbolicTensor });
    };
    for (const model of [build(), build()]) {
      // The second build's variables are renamed "…/beta_1" by tfjs-layers.
      const names = model.weights.map((w) => (w.read() as tf.Variable).name);
      const betas = names.filter(batchNormBiases);
      expect(betas).toHaveLength(2);
      expect(betas.every((n) => /\/beta(_\d+)?$/.test(n))).toBe(true);
      expect(names.filter((n) => !batchNormBiases(n)).length).toBe(names.length - 2);
      model.dispose();
    }
    expect(
      ["bn/gamma", "bn/moving_mean", "fc/bias", "alphabeta", "beta/kernel"].some(batchNormBiases),
    ).toBe(false);
    expect(["beta", "stem_bn/beta", "a/b/beta_12"].every(batchNormBiases)).toBe(true);
  });
});

/**
 * The fused kernels' contracts (kernel-names.ts), computed here as @cnnkit/backends computes them,
 * with a record of the attributes each variable's call received: the fused path is the one the
 * trainer runs on cpu and wasm, and per-variable lr and weight decay reach it only as attributes.
 */
function registerReferenceKernels(nameOf: (dataId: object) => string) {
  const calls: { kernel: string; variable: string; attrs: Record<string, unknown> }[] = [];
  type Backend = {
    readSync(dataId: object): Float32Array;
    makeTensorInfo(shape: number[], dtype: "float32", values: Float32Array): tf.TensorInfo;
  };
  tf.registerKernel({
    kernelName: SGD_UPDATE_KERNEL,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as Backend;
      const { value, gradient, buffer } = inputs as Record<string, tf.TensorInfo | undefined>;
      const a = attrs as unknown as {
        learningRate: number;
        momentum: number;
        dampening: number;
        weightDecay: number;
        nesterov: boolean;
      };
      calls.push({ kernel: SGD_UPDATE_KERNEL, variable: nameOf(value!.dataId), attrs: { ...a } });
      const p = b.readSync(value!.dataId);
      const g = b.readSync(gradient!.dataId);
      const buf = buffer ? b.readSync(buffer.dataId) : null;
      const pOut = new Float32Array(p.length);
      const bOut = new Float32Array(p.length);
      for (let i = 0; i < p.length; i++) {
        const d0 = a.weightDecay === 0 ? g[i]! : Math.fround(g[i]! + a.weightDecay * p[i]!);
        let d = d0;
        if (a.momentum !== 0) {
          const bi = buf ? Math.fround(a.momentum * buf[i]! + (1 - a.dampening) * d0) : d0;
          bOut[i] = bi;
          d = a.nesterov ? d0 + a.momentum * bi : bi;
        }
        pOut[i] = p[i]! - a.learningRate * d;
      }
      const out = [b.makeTensorInfo(value!.shape, "float32", pOut)];
      if (a.momentum !== 0) out.push(b.makeTensorInfo(value!.shape, "float32", bOut));
      return out;
    },
  });
  tf.registerKernel({
    kernelName: ADAMW_UPDATE_KERNEL,
    backendName: "cpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as Backend;
      const { value, gradient, m, v } = inputs as Record<string, tf.TensorInfo>;
      const a = attrs as unknown as Record<
        "beta1" | "beta2" | "epsilon" | "decay" | "stepSize" | "sqrtBias2",
        number
      >;
      calls.push({ kernel: ADAMW_UPDATE_KERNEL, variable: nameOf(value!.dataId), attrs: { ...a } });
      const [p, g, m0, v0] = [value!, gradient!, m!, v!].map((t) => b.readSync(t.dataId));
      const n = p!.length;
      const [pOut, mOut, vOut] = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
      for (let i = 0; i < n; i++) {
        const gi = g![i]!;
        mOut[i] = a.beta1 * m0![i]! + (1 - a.beta1) * gi;
        vOut[i] = a.beta2 * v0![i]! + (1 - a.beta2) * gi * gi;
        const denom = Math.sqrt(vOut[i]!) / a.sqrtBias2 + a.epsilon;
        pOut[i] = p![i]! * a.decay - (mOut[i]! / denom) * a.stepSize;
      }
      return [pOut, mOut, vOut].map((x) => b.makeTensorInfo(value!.shape, "float32", x));
    },
  });
  return {
    calls,
    unregister() {
      tf.unregisterKernel(SGD_UPDATE_KERNEL, "cpu");
      tf.unregisterKernel(ADAMW_UPDATE_KERNEL, "cpu");
    },
  };
}

describe("parameter groups on the fused-kernel path", () => {
  for (const c of fixture.cases.filter((x) => x.groups)) {
    it(`${c.name}: the kernels get each group's lr and decay, and the run meets PyTorch to 1e-5`, () => {
      const problem = new Problem(c.seed, "fused-groups");
      // The kernel's `value` is the variable itself: its current data says which one.
      const nameOf = (id: object) =>
        Object.entries(problem.vars).find(([, v]) => v.dataId === id)?.[0] ?? "?";
      const kernels = registerReferenceKernels(nameOf);
      try {
        const optimizer = makeOptimizer(c);
        train(c, problem, optimizer, undefined, 0, fixture.steps);
        const vars = Object.keys(problem.vars);
        expect(kernels.calls).toHaveLength(vars.length * fixture.steps);
        expectGroupAttrs(c, kernels.calls);
        expect(closeness(problem.values(), c.final)).toBeLessThan(1);
        optimizer.dispose();
      } finally {
        kernels.unregister();
        problem.dispose();
      }
    });
  }
});

/** Each call's lr and weight decay (SGD), or step size and decay factor (AdamW), are its group's. */
function expectGroupAttrs(
  c: GoldenCase,
  calls: { kernel: string; variable: string; attrs: Record<string, unknown> }[],
): void {
  const names = Object.keys(fixture.shapes);
  const lrOf = (k: number) => (c.options.lr as number) * c.lrFactor![k]!;
  // Which group (0: none) the generator put each name in, from PyTorch's per-group lrs.
  const group = (name: string): { scale: number; wd: number } => {
    const gs = c.groups!;
    const matches: ((n: string) => boolean)[] = gs.map((g) =>
      g.match === "bn-beta" ? (n) => n.endsWith("/beta") : (n) => n.includes("_bn/"),
    );
    const i = matches.findIndex((m) => m(name));
    return i < 0
      ? { scale: 1, wd: c.options.weight_decay as number }
      : { scale: gs[i]!.lr_scale, wd: gs[i]!.weight_decay };
  };
  calls.forEach((call, index) => {
    const k = Math.floor(index / names.length);
    const { scale, wd } = group(call.variable);
    const lr = lrOf(k) * scale;
    if (call.kernel === SGD_UPDATE_KERNEL) {
      expect(call.attrs.learningRate).toBeCloseTo(lr, 15);
      expect(call.attrs.weightDecay).toBe(wd);
    } else {
      const beta1 = (c.options.betas as number[] | undefined)?.[0] ?? 0.9;
      expect(call.attrs.stepSize).toBeCloseTo(lr / (1 - beta1 ** (k + 1)), 15);
      expect(call.attrs.decay).toBeCloseTo(1 - lr * wd, 15);
    }
  });
  // Both a grouped and an ungrouped variable were updated.
  expect(new Set(calls.map((x) => group(x.variable).scale)).size).toBeGreaterThan(1);
}
