import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { AdamW, Lookahead, OptimError, SGD, saveOptimizerState, WeightEMA } from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});
afterEach(() => {
  tf.disposeVariables();
});

describe("unknown options", () => {
  it("are refused by every optimizer, with the name they probably meant", () => {
    expect(() => new AdamW({ lr: 0.5 } as never)).toThrow(
      /AdamW: unknown option "lr" \(did you mean learningRate\?\); expected one of learningRate, beta1, beta2, epsilon, weightDecay, decayFilter, groups/,
    );
    expect(() => new SGD({ learningRate: 0.1, weight_decay: 5e-4 } as never)).toThrow(
      /SGD: unknown option "weight_decay" \(did you mean weightDecay\?\)/,
    );
    expect(() => new AdamW({ eps: 1e-6 } as never)).toThrow(/did you mean epsilon\?/);
    expect(() => new SGD({ nesterovMomentum: true } as never)).toThrow(
      /SGD: unknown option "nesterovMomentum"; expected one of/,
    );
    expect(() => new SGD(0.1 as never)).toThrow(/SGD: expected an options object, got 0.1/);
    let error: unknown;
    try {
      new AdamW({ lr: 0.5 } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OptimError);
    expect((error as OptimError).code).toBe("invalid_option");
    // Known keys left undefined are fine (spread options often carry them).
    expect(new SGD({ learningRate: 0.2, decayFilter: undefined }).learningRate).toBe(0.2);
  });

  it("are refused by WeightEMA, Lookahead and the checkpoint functions too", async () => {
    const v = tf.variable(tf.ones([2]), true, "unknown/v");
    expect(() => new WeightEMA([v], { decay: 0.9, beta: 0.5 } as never)).toThrow(
      /WeightEMA: unknown option "beta"; expected one of decay, warmup/,
    );
    expect(() => new WeightEMA([v], 0.99 as never)).toThrow(
      /WeightEMA: expected an options object, got 0.99/,
    );
    expect(() => new Lookahead([v], { totalSteps: 10, total_steps: 10 } as never)).toThrow(
      /Lookahead: unknown option "total_steps" \(did you mean totalSteps\?\)/,
    );
    const sgd = new SGD();
    await expect(saveOptimizerState(sgd, "/nonexistent", { file: "x" } as never)).rejects.toThrow(
      /saveOptimizerState: unknown option "file"; expected one of name/,
    );
    await expect(saveOptimizerState(sgd, "/nonexistent", { name: "a/b" })).rejects.toThrow(
      /saveOptimizerState: expected name to be a file stem without slashes, got "a\/b"/,
    );
    sgd.dispose();
    v.dispose();
  });
});
