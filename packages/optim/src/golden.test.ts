import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import {
  closeness,
  fixture,
  groupsOf,
  MATCHERS,
  makeOptimizer,
  makeSchedule,
  Problem,
  train,
  useCpu,
} from "../test/golden-problem.js";
import { SGD } from "./index.js";

beforeAll(useCpu);

describe("AdamW and SGD against PyTorch 1.13 after 20 steps (golden fixtures)", () => {
  it("covers constant and OneCycleLR-driven runs, Nesterov, clipping and a decay filter", () => {
    const cases = fixture.cases;
    for (const kind of ["AdamW", "SGD"]) {
      expect(cases.some((c) => c.optimizer === kind && c.oneCycle)).toBe(true);
      expect(cases.some((c) => c.optimizer === kind && c.clip !== undefined)).toBe(true);
      expect(cases.some((c) => c.optimizer === kind && c.decayFilter)).toBe(true);
    }
    expect(cases.some((c) => c.options.nesterov && c.oneCycle)).toBe(true);
    expect(cases.some((c) => c.optimizer === "SGD" && !c.options.nesterov && c.oneCycle)).toBe(
      true,
    );
    // Parameter groups under a LambdaLR-style factor, for both optimizers: the fast recipe's
    // Nesterov SGD at momentum 0.85, and a case where two groups claim the same variable.
    for (const kind of ["AdamW", "SGD"]) {
      expect(cases.some((c) => c.optimizer === kind && c.groups && c.lrFactor)).toBe(true);
    }
    const recipe = cases.find((c) => c.decoupled)!;
    expect([recipe.options.nesterov, recipe.options.momentum]).toEqual([true, 0.85]);
    expect(cases.some((c) => (c.groups?.length ?? 0) > 1)).toBe(true);
  });

  fixture.cases.forEach((c, index) => {
    it(`${c.name}: every parameter within 1e-5`, () => {
      const problem = new Problem(c.seed, `golden${index}`);
      const optimizer = makeOptimizer(c);
      const schedule = makeSchedule(c);
      const trace = train(c, problem, optimizer, schedule, 0, fixture.steps);
      // The schedule fed the same lr and beta1/momentum PyTorch's OneCycleLR did.
      trace.lr.forEach((lr, k) => {
        expect(Math.abs(lr - c.lr[k]!)).toBeLessThanOrEqual(1e-12 * c.lr[k]!);
      });
      trace.momentum.forEach((m, k) => {
        expect(Math.abs(m - c.momentum[k]!)).toBeLessThanOrEqual(1e-12);
      });
      if (c.preClipNorms) {
        expect(trace.norms).toHaveLength(fixture.steps);
        trace.norms.forEach((n, k) => {
          expect(Math.abs(n - c.preClipNorms![k]!) / c.preClipNorms![k]!).toBeLessThan(1e-5);
        });
      }
      // Within 1e-5 relative (plus 1e-6 absolute near zero; see closeness()).
      expect(closeness(problem.values(), c.final)).toBeLessThan(1);
      expect(optimizer.iterations).toBe(fixture.steps);
      optimizer.dispose();
      problem.dispose();
      expect(tf.memory().numTensors).toBe(0);
    });
  });

  for (const c of fixture.cases.filter((x) => x.groups)) {
    it(`${c.name}: each group's lr is PyTorch's LambdaLR lr of that group at every step`, () => {
      const problem = new Problem(c.seed, "group-lr");
      const optimizer = makeOptimizer(c);
      const names = Object.keys(problem.vars);
      // One variable per group, each in the group its first match picks (torch's order).
      const matchers = c.groups!.map((g) => MATCHERS[g.match]);
      const firstMatch = (n: string) =>
        matchers.findIndex((m) => (m instanceof RegExp ? m.test(n) : m(n)));
      const members = c.groups!.map((_, i) => names.filter((n) => firstMatch(n) === i));
      expect(members.every((m) => m.length > 0)).toBe(true);
      c.groupLr!.forEach((lrs, k) => {
        optimizer.learningRate = (c.options.lr as number) * c.lrFactor![k]!;
        lrs.forEach((want, i) => {
          for (const n of members[i]!) {
            const got = optimizer.hyperparametersFor(problem.vars[n]!.name);
            expect(Math.abs(got.learningRate - want)).toBeLessThanOrEqual(1e-12 * want);
            expect(got.weightDecay).toBe(c.groups![i]!.weight_decay);
          }
        });
      });
      optimizer.dispose();
      problem.dispose();
    });
  }

  it("the same SGD without its parameter groups misses the group fixture by far", () => {
    // Guards the group fixture: it tells a 64× BatchNorm-bias lr with its own decay from none.
    const c = fixture.cases.find((x) => x.decoupled)!;
    expect(groupsOf(c)).toHaveLength(1);
    const problem = new Problem(c.seed, "no-groups");
    const o = c.options as { lr: number; momentum: number; weight_decay: number };
    const optimizer = new SGD({
      learningRate: o.lr,
      momentum: o.momentum,
      nesterov: true,
      weightDecay: o.weight_decay,
    });
    train(c, problem, optimizer, undefined, 0, fixture.steps);
    expect(closeness(problem.values(), c.final)).toBeGreaterThan(100);
    optimizer.dispose();
    problem.dispose();
  });

  it("tfjs's own Adam driven the same way misses the fixture by far", () => {
    // Guards the test itself: the fixture tells PyTorch's AdamW (decoupled decay, bias correction
    // with the current beta1) from tfjs's Adam (no decay, product of past beta1s).
    const c = fixture.cases.find((x) => x.name === "AdamW OneCycleLR lr and beta1")!;
    const problem = new Problem(c.seed, "wrong-bias");
    const optimizer = new tf.AdamOptimizer(0.05, 0.95, 0.999, 1e-8);
    const schedule = makeSchedule(c)!;
    for (let k = 0; k < fixture.steps; k++) {
      (optimizer as unknown as { learningRate: number }).learningRate = schedule.lr;
      (optimizer as unknown as { beta1: number }).beta1 = schedule.momentum!;
      optimizer.minimize(() => problem.loss(k));
      schedule.step();
    }
    expect(closeness(problem.values(), c.final)).toBeGreaterThan(100);
    optimizer.dispose();
    problem.dispose();
  });
});
