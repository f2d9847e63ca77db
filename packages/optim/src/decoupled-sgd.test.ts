import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { closeness, fixture, Problem, train, useCpu } from "../test/golden-problem.js";
import { batchNormBiases, decoupledSGD, SGD } from "./index.js";

beforeAll(useCpu);

describe("decoupledSGD", () => {
  it("converts airbench94's numbers as airbench does: lr 11.5 and wd 0.0153 per 1024, batch 1024", () => {
    const o = decoupledSGD({
      lr: 11.5,
      weightDecay: 0.0153,
      momentum: 0.85,
      batchSize: 1024,
      biasLrScale: 64,
    });
    const kilostep = 1024 * (1 + 1 / (1 - 0.85));
    const wdAbs = (0.0153 * 1024) / kilostep;
    expect(o.learningRate).toBeCloseTo(1.5, 12); // 11.5 / 7.667: the mean-loss lr
    expect(o.momentum).toBe(0.85);
    expect(o.nesterov).toBe(true);
    // lr × weight decay is the same absolute decay per step in both groups.
    expect(o.learningRate * o.weightDecay).toBeCloseTo(wdAbs, 15);
    expect(o.groups).toHaveLength(1);
    const [bias] = o.groups;
    expect(bias!.match).toBe(batchNormBiases);
    expect(bias!.lrScale).toBe(64);
    expect(o.learningRate * 64 * bias!.weightDecay!).toBeCloseTo(wdAbs, 15);
    // A summed loss (airbench's own) steps batchSize times smaller per unit of gradient.
    const sum = decoupledSGD({ lr: 11.5, weightDecay: 0.0153, batchSize: 1024, reduction: "sum" });
    expect(sum.learningRate).toBeCloseTo(11.5 / kilostep, 15);
    expect(sum.learningRate * sum.weightDecay).toBeCloseTo(wdAbs, 15);
    expect(sum.groups).toEqual([]); // biasLrScale defaults to 1: no group
    expect(sum.momentum).toBe(0.85);
  });

  it("gives the options the PyTorch fixture was converted to, and trains to PyTorch's weights", () => {
    const c = fixture.cases.find((x) => x.decoupled)!;
    const d = c.decoupled!;
    const o = decoupledSGD({
      lr: d.lr,
      weightDecay: d.weight_decay,
      momentum: d.momentum,
      batchSize: d.batch_size,
      biasLrScale: d.bias_scaler,
    });
    // The same arithmetic in the same order as the generator's airbench lines: equal doubles.
    expect(o.learningRate).toBe(c.options.lr);
    expect(o.weightDecay).toBe(c.options.weight_decay);
    expect(o.groups[0]!.lrScale).toBe(c.groups![0]!.lr_scale);
    expect(o.groups[0]!.weightDecay).toBe(c.groups![0]!.weight_decay);

    const problem = new Problem(c.seed, "decoupled");
    const optimizer = new SGD(o);
    train(c, problem, optimizer, undefined, 0, fixture.steps);
    expect(closeness(problem.values(), c.final)).toBeLessThan(1);
    optimizer.dispose();
    problem.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });

  it("checks its options", () => {
    const ok = { lr: 1, batchSize: 512 };
    expect(() => decoupledSGD({ ...ok, lr: 0 })).toThrow(
      /decoupledSGD: expected lr to be a finite number in \(0, ∞\), got 0/,
    );
    expect(() => decoupledSGD({ ...ok, momentum: 1 })).toThrow(/momentum .* \(0, 1\), got 1/);
    expect(() => decoupledSGD({ ...ok, batchSize: 1.5 })).toThrow(
      /expected batchSize to be an integer, got 1.5/,
    );
    expect(() => decoupledSGD({ lr: 1 } as never)).toThrow(/batchSize .* got undefined/);
    expect(() => decoupledSGD({ ...ok, reduction: "none" as never })).toThrow(
      /expected reduction to be "mean" or "sum", got "none"/,
    );
    expect(() => decoupledSGD({ ...ok, weight_decay: 5e-4 } as never)).toThrow(
      /decoupledSGD: unknown option "weight_decay" \(did you mean weightDecay\?\)/,
    );
  });
});
