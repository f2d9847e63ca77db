import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { OneCycleLR } from "@cnnkit/schedulers";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  closeness,
  fixture,
  makeOptimizer,
  makeSchedule,
  Problem,
  train,
  useCpu,
} from "../test/golden-problem.js";
import {
  AdamW,
  getOptimizerState,
  loadOptimizerState,
  loadWeightEMA,
  type OptimError,
  SGD,
  saveOptimizerState,
  saveWeightEMA,
  setOptimizerState,
  WeightEMA,
} from "./index.js";

let dir: string;
beforeAll(async () => {
  await useCpu();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cnnkit-optim-"));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe("optimizer state for resume", () => {
  for (const name of [
    "AdamW OneCycleLR with clipping",
    "SGD Nesterov OneCycleLR lr and momentum",
    // Groups are configuration, not state: the resumed optimizer is built with the same groups,
    // and the LambdaLR-style factor (the step index) sets its lr again.
    "SGD decoupled groups: BatchNorm biases 64x, Nesterov 0.85, LambdaLR",
    "AdamW groups: first match wins, LambdaLR",
  ]) {
    it(`${name}: 10 steps, save, fresh process state, 10 more = 20 uninterrupted steps`, async () => {
      const c = fixture.cases.find((x) => x.name === name)!;
      const straight = new Problem(c.seed, "straight");
      const straightOpt = makeOptimizer(c);
      train(c, straight, straightOpt, makeSchedule(c), 0, fixture.steps);
      const expected = straight.values();
      straightOpt.dispose();
      straight.dispose();

      const checkpoint = path.join(dir, name.replace(/\W+/g, "-"));
      let problem = new Problem(c.seed, "resumed");
      let optimizer = makeOptimizer(c);
      let schedule = makeSchedule(c);
      train(c, problem, optimizer, schedule, 0, 10);
      // What the trainer's checkpoint holds: model weights, schedule state, optimizer files.
      const weights = problem.values();
      const scheduleState = JSON.parse(JSON.stringify(schedule?.stateDict() ?? null));
      await saveOptimizerState(optimizer, checkpoint);
      expect((await fs.readdir(checkpoint)).sort()).toEqual(["optimizer.bin", "optimizer.json"]);
      optimizer.dispose();
      problem.dispose();

      problem = new Problem(c.seed, "resumed");
      tf.tidy(() => {
        for (const [n, v] of Object.entries(problem.vars))
          v.assign(tf.tensor(weights[n]!, v.shape));
      });
      optimizer = makeOptimizer(c);
      await loadOptimizerState(optimizer, checkpoint);
      expect(optimizer.iterations).toBe(10);
      schedule = makeSchedule(c);
      schedule?.loadStateDict(scheduleState);
      train(c, problem, optimizer, schedule, 10, fixture.steps);

      const resumed = problem.values();
      for (const n of Object.keys(expected))
        expect(Array.from(resumed[n]!)).toEqual(Array.from(expected[n]!));
      expect(closeness(resumed, c.final)).toBeLessThan(1);
      optimizer.dispose();
      problem.dispose();
      expect(tf.memory().numTensors).toBe(0);
    });
  }

  it("restores the scheduled hyperparameters and refuses another class's state", async () => {
    const v = tf.variable(tf.ones([2]), true, "state/v");
    const adam = new AdamW({ learningRate: 0.1 });
    tf.tidy(() => adam.applyGradients({ "state/v": tf.ones([2]) }));
    adam.learningRate = 0.02;
    adam.beta1 = 0.8;
    const state = await getOptimizerState(adam);
    expect(state.manifest.tensors.map((t) => t.name)).toEqual([
      "iter",
      "state/v/step",
      "state/v/m",
      "state/v/v",
    ]);
    const other = new AdamW();
    await setOptimizerState(other, state);
    expect([other.learningRate, other.beta1, other.iterations]).toEqual([0.02, 0.8, 1]);
    await expect(setOptimizerState(new SGD(), state)).rejects.toThrow(
      /expected the state of a cnnkit.SGD, got one of "cnnkit.AdamW"/,
    );
    adam.dispose();
    other.dispose();
    v.dispose();
    // Without the variable, the state cannot be placed: say which one.
    const orphan = new AdamW();
    await expect(setOptimizerState(orphan, state)).rejects.toThrow(
      /holds "state\/v\/step" but no variable named "state\/v" exists/,
    );
  });

  it("detects data that does not belong to the manifest and leaves no temporary files", async () => {
    const v = tf.variable(tf.ones([3]), true, "corrupt/v");
    const sgd = new SGD({ momentum: 0.9 });
    tf.tidy(() => sgd.applyGradients({ "corrupt/v": tf.ones([3]) }));
    const checkpoint = path.join(dir, "corrupt");
    await saveOptimizerState(sgd, checkpoint);
    await saveOptimizerState(sgd, checkpoint); // overwrite in place
    expect((await fs.readdir(checkpoint)).sort()).toEqual(["optimizer.bin", "optimizer.json"]);
    const bin = path.join(checkpoint, "optimizer.bin");
    const bytes = await fs.readFile(bin);
    bytes[0] = (bytes[0]! + 1) % 256;
    await fs.writeFile(bin, bytes);
    let error: unknown;
    try {
      await loadOptimizerState(new SGD({ momentum: 0.9 }), checkpoint);
    } catch (e) {
      error = e;
    }
    expect((error as OptimError).code).toBe("corrupt_state");
    await expect(loadOptimizerState(sgd, path.join(dir, "missing"))).rejects.toThrow(
      /cannot read the optimizer state .*optimizer.json/,
    );
    sgd.dispose();
    v.dispose();
  });

  it("saves and loads a WeightEMA beside the optimizer", async () => {
    const v = tf.variable(tf.tensor1d([1, 2]), true, "ema-state/v");
    const ema = new WeightEMA([v], { decay: 0.5 });
    tf.tidy(() => v.assign(tf.tensor1d([3, 4])));
    ema.update();
    await saveWeightEMA(ema, path.join(dir, "ema"));
    const again = new WeightEMA([v], { decay: 0.5 });
    await loadWeightEMA(again, path.join(dir, "ema"));
    expect(again.updates).toBe(1);
    expect(Array.from(again.getWeights()[0]!.tensor.dataSync())).toEqual([2, 3]);
    ema.dispose();
    again.dispose();
    v.dispose();
  });

  it("outside Node (a browser), the file functions say so and the in-memory state still works", async () => {
    const v = tf.variable(tf.tensor1d([1, 2]), true, "browser-state/v");
    const optimizer = new AdamW({ learningRate: 0.1 });
    optimizer.applyGradients({ [v.name]: tf.tensor1d([1, -1]) });
    // A browser has no process.getBuiltinModule; hiding it is how this test plays one.
    const getBuiltinModule = process.getBuiltinModule;
    (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
    try {
      await expect(saveOptimizerState(optimizer, dir)).rejects.toMatchObject({
        code: "node_only",
        message: expect.stringMatching(
          /^saveOptimizerState: expected Node\.js .*getOptimizerState/,
        ),
      });
      await expect(loadWeightEMA(new WeightEMA([v]), dir)).rejects.toMatchObject({
        code: "node_only",
      });
      const again = new AdamW({ learningRate: 0.1 });
      await setOptimizerState(again, await getOptimizerState(optimizer));
      expect(again.iterations).toBe(1);
      again.dispose();
    } finally {
      process.getBuiltinModule = getBuiltinModule;
    }
    optimizer.dispose();
    v.dispose();
  });
});

describe("no tensor leaks over 100 steps", () => {
  it("AdamW + OneCycleLR + clipping + WeightEMA keeps tf.memory().numTensors flat", () => {
    const c = fixture.cases.find((x) => x.name === "AdamW OneCycleLR with clipping")!;
    const baseline = tf.memory().numTensors;
    const problem = new Problem(c.seed, "leak-adamw");
    const optimizer = makeOptimizer(c);
    const schedule = new OneCycleLR({ maxLr: 0.01, totalSteps: 100 });
    const ema = new WeightEMA(Object.values(problem.vars), { decay: 0.9 });
    const counts: number[] = [];
    for (let k = 0; k < 100; k++) {
      train(c, problem, optimizer, schedule, k % fixture.steps, (k % fixture.steps) + 1);
      ema.update();
      counts.push(tf.memory().numTensors);
    }
    // After the first step created the slots, the count never moves.
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(counts[99]).toBe(counts[0]);
    ema.dispose();
    optimizer.dispose();
    problem.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it("SGD Nesterov through minimize keeps tf.memory().numTensors flat", () => {
    const c = fixture.cases.find((x) => x.name === "SGD Nesterov OneCycleLR lr and momentum")!;
    const problem = new Problem(c.seed, "leak-sgd");
    const optimizer = makeOptimizer(c);
    train(c, problem, optimizer, undefined, 0, 1);
    const after1 = tf.memory().numTensors;
    for (let k = 1; k < 100; k++)
      train(c, problem, optimizer, undefined, k % fixture.steps, (k % fixture.steps) + 1);
    expect(tf.memory().numTensors).toBe(after1);
    optimizer.dispose();
    problem.dispose();
  });
});

describe("saveOptimizerState into a folder that cannot be made", () => {
  it("fails at once naming it (no spin under /proc)", async () => {
    const tf = await import("@tensorflow/tfjs-core");
    await import("@tensorflow/tfjs-backend-cpu");
    await tf.setBackend("cpu");
    const { SGD, saveOptimizerState } = await import("./index.js");
    await expect(saveOptimizerState(new SGD(), "/proc/cnnkit-x/opt")).rejects.toThrow(
      /^\/proc\/cnnkit-x: cannot create this folder/,
    );
  });
});
