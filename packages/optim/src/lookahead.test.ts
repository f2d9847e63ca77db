import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  closeness,
  fixture,
  type LookaheadCase,
  makeOptimizer,
  Problem,
  train,
  useCpu,
} from "../test/golden-problem.js";
import {
  getLookaheadState,
  getWeightEMAState,
  Lookahead,
  loadLookahead,
  loadOptimizerState,
  saveLookahead,
  saveOptimizerState,
  setLookaheadState,
  WeightEMA,
} from "./index.js";

let dir: string;
beforeAll(async () => {
  await useCpu();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cnnkit-lookahead-"));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function caseOf(la: LookaheadCase) {
  return fixture.cases.find((c) => c.name === la.case)!;
}

describe("Lookahead against airbench's LookaheadState in PyTorch (golden fixtures)", () => {
  it("covers a run ending on an averaging step and one ending between two", () => {
    expect(fixture.lookahead.map((l) => l.totalSteps % l.every === 0)).toEqual([true, false]);
    expect(fixture.lookahead.every((l) => caseOf(l).groups && caseOf(l).lrFactor)).toBe(true);
  });

  for (const la of fixture.lookahead) {
    it(`${la.name}: the weights after every step within 1e-5 of PyTorch's`, () => {
      const c = caseOf(la);
      const start = tf.memory().numTensors;
      const problem = new Problem(c.seed, "lookahead");
      const optimizer = makeOptimizer(c);
      const lookahead = new Lookahead(Object.values(problem.vars), {
        totalSteps: la.totalSteps,
        every: la.every,
        base: la.base,
      });
      const replaced: number[] = [];
      let tensors = 0;
      for (let k = 0; k < la.totalSteps; k++) {
        train(c, problem, optimizer, undefined, k, k + 1);
        if (lookahead.step()) replaced.push(k + 1);
        expect(closeness(problem.values(), la.trajectory[k]!)).toBeLessThan(1);
        // No tensor is left behind by a step after the first (which made the momentum buffers).
        if (k === 1) tensors = tf.memory().numTensors;
        if (k > 1) expect(tf.memory().numTensors).toBe(tensors);
      }
      expect(replaced).toEqual(la.totalSteps === 20 ? [5, 10, 15, 20] : [5, 10, 15, 18]);
      expect(lookahead.steps).toBe(la.totalSteps);
      expect(closeness(problem.values(), la.final)).toBeLessThan(1);
      // After the last step the model holds the average.
      const averages = lookahead.getWeights().map((w) => Array.from(w.tensor.dataSync()));
      expect(averages).toEqual(Object.values(problem.values()).map((v) => Array.from(v)));
      expect(() => lookahead.step()).toThrow(
        new RegExp(
          `Lookahead.step: expected at most totalSteps = ${la.totalSteps} steps, got step ${la.totalSteps + 1}`,
        ),
      );
      lookahead.dispose();
      optimizer.dispose();
      problem.dispose();
      expect(tf.memory().numTensors).toBe(start);
    });
  }

  it("without the write-back the run misses the fixture by far", () => {
    // Guards the fixture: it tells lookahead from plain SGD on the same problem.
    const la = fixture.lookahead[0]!;
    const c = caseOf(la);
    const problem = new Problem(c.seed, "no-lookahead");
    const optimizer = makeOptimizer(c);
    train(c, problem, optimizer, undefined, 0, la.totalSteps);
    expect(closeness(problem.values(), la.final)).toBeGreaterThan(100);
    optimizer.dispose();
    problem.dispose();
  });
});

describe("Lookahead", () => {
  it("uses decay base^every · (step/total)³ and averages every float weight of a model, BatchNorm statistics included", () => {
    const input = tfl.input({ shape: [3] });
    const dense = tfl.layers.dense({ units: 2, name: "la_fc" }).apply(input);
    const bn = tfl.layers.batchNormalization({ name: "la_bn" }).apply(dense);
    const model = tfl.model({ inputs: input, outputs: bn as tfl.SymbolicTensor });
    const lookahead = new Lookahead(model, { totalSteps: 10, every: 2, base: 0.9 });
    expect(lookahead.decayAt(2)).toBeCloseTo(0.9 ** 2 * 0.2 ** 3, 15);
    expect(lookahead.decayAt(10)).toBeCloseTo(0.81, 15);
    const start = model.weights.map((w) => Array.from(w.read().dataSync()));
    const move = () =>
      tf.tidy(() => {
        for (const w of model.weights) w.write(tf.add(w.read(), 1));
      });
    move();
    expect(lookahead.step()).toBe(false); // step 1: nothing yet
    move();
    expect(lookahead.step()).toBe(true); // step 2: avg ← avg + (1 − d)(w − avg); w ← avg
    const d = lookahead.decayAt(2);
    const names = model.weights.map((w) => w.originalName);
    expect(names).toEqual(expect.arrayContaining(["la_bn/moving_mean", "la_bn/moving_variance"]));
    model.weights.forEach((w, i) => {
      Array.from(w.read().dataSync()).forEach((v, j) => {
        expect(v).toBeCloseTo(start[i]![j]! + 2 * (1 - d), 5);
      });
    });
    expect(lookahead.getWeights().map((w) => w.name)).toEqual(names);
    lookahead.dispose();
    model.dispose();
  });

  it("finish() puts the average into the model when a run stops early", () => {
    const v = tf.variable(tf.tensor1d([0, 0]), true, "la-finish/v");
    const lookahead = new Lookahead([v], { totalSteps: 100, every: 5 });
    tf.tidy(() => v.assign(tf.tensor1d([4, 8])));
    lookahead.finish();
    expect(Array.from(v.dataSync())).toEqual([0, 0]);
    lookahead.update(0); // decay 0: the average takes the weights
    tf.tidy(() => v.assign(tf.tensor1d([1, 1])));
    lookahead.update(1); // decay 1: the average stays, and is written back
    expect(Array.from(v.dataSync())).toEqual([0, 0]);
    lookahead.dispose();
    v.dispose();
  });

  it("resumes bit-identically from a checkpoint taken between two averagings", async () => {
    const start = tf.memory().numTensors;
    const la = fixture.lookahead[0]!;
    const c = caseOf(la);
    const options = { totalSteps: la.totalSteps, every: la.every, base: la.base };
    /** Steps from..to − 1 as the trainer runs them: optimizer step, then lookahead. */
    const steps = (
      p: Problem,
      o: ReturnType<typeof makeOptimizer>,
      l: Lookahead,
      from: number,
      to: number,
    ) => {
      for (let k = from; k < to; k++) {
        train(c, p, o, undefined, k, k + 1);
        l.step();
      }
    };
    const straight = new Problem(c.seed, "la-straight");
    let optimizer = makeOptimizer(c);
    let lookahead = new Lookahead(Object.values(straight.vars), options);
    steps(straight, optimizer, lookahead, 0, la.totalSteps);
    const expected = straight.values();
    optimizer.dispose();
    lookahead.dispose();
    straight.dispose();

    // 7 steps (the last averaging was at 5), then a checkpoint: weights, optimizer, lookahead.
    const checkpoint = path.join(dir, "resume");
    let problem = new Problem(c.seed, "la-resumed");
    optimizer = makeOptimizer(c);
    lookahead = new Lookahead(Object.values(problem.vars), options);
    steps(problem, optimizer, lookahead, 0, 7);
    const weights = problem.values();
    await saveOptimizerState(optimizer, checkpoint);
    await saveLookahead(lookahead, checkpoint);
    expect((await fs.readdir(checkpoint)).sort()).toEqual([
      "lookahead.bin",
      "lookahead.json",
      "optimizer.bin",
      "optimizer.json",
    ]);
    optimizer.dispose();
    lookahead.dispose();
    problem.dispose();

    // A new process: the model rebuilt and its weights loaded, then the optimizer and lookahead.
    problem = new Problem(c.seed, "la-resumed");
    tf.tidy(() => {
      for (const [n, v] of Object.entries(problem.vars)) v.assign(tf.tensor(weights[n]!, v.shape));
    });
    optimizer = makeOptimizer(c);
    lookahead = new Lookahead(Object.values(problem.vars), options);
    await loadOptimizerState(optimizer, checkpoint);
    await loadLookahead(lookahead, checkpoint);
    expect(lookahead.steps).toBe(7);
    steps(problem, optimizer, lookahead, 7, la.totalSteps);
    const resumed = problem.values();
    for (const n of Object.keys(expected)) {
      expect(Array.from(resumed[n]!)).toEqual(Array.from(expected[n]!));
    }
    expect(closeness(resumed, la.final)).toBeLessThan(1);
    optimizer.dispose();
    lookahead.dispose();
    problem.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it("loads a state only into a Lookahead with the same settings, and checks its options", async () => {
    const v = tf.variable(tf.tensor1d([1, 2]), true, "la-state/v");
    const lookahead = new Lookahead([v], { totalSteps: 20 });
    lookahead.step();
    const state = await getLookaheadState(lookahead);
    expect(state.manifest.config).toEqual({ totalSteps: 20, every: 5, base: 0.95 });
    expect(state.manifest.steps).toBe(1);
    const other = new Lookahead([v], { totalSteps: 30 });
    await expect(setLookaheadState(other, state)).rejects.toThrow(
      /saved with totalSteps = 20, this Lookahead has 30/,
    );
    const ema = new WeightEMA([v]);
    await expect(setLookaheadState(lookahead, await getWeightEMAState(ema))).rejects.toThrow(
      /expected a Lookahead state, got "ema"/,
    );
    expect(() => new Lookahead([v], {} as never)).toThrow(
      /Lookahead: expected totalSteps to be a finite number in \[1, ∞\), got undefined/,
    );
    expect(() => new Lookahead([v], { totalSteps: 10, every: 2.5 })).toThrow(
      /expected every to be an integer, got 2.5/,
    );
    expect(() => new Lookahead([v], { totalSteps: 10, base: 1.5 })).toThrow(/base .* got 1.5/);
    expect(() => new Lookahead([v], { totalSteps: 10, k: 5 } as never)).toThrow(
      /Lookahead: unknown option "k"; expected one of totalSteps, every, base/,
    );
    expect(() => new Lookahead([], { totalSteps: 10 })).toThrow(
      /Lookahead: expected a model with weights/,
    );
    expect(() => lookahead.update(-0.1)).toThrow(/decay .* got -0.1/);
    for (const x of [lookahead, other, ema]) x.dispose();
    v.dispose();
  });
});
