import { OneCycleLR } from "@cnnkit/schedulers";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { AdamW, applySchedule, SGD } from "./index.js";

describe("applySchedule", () => {
  it("sets lr and beta1 on AdamW, lr and momentum on SGD, and leaves momentum alone without one", () => {
    const schedule = new OneCycleLR({ maxLr: 0.1, totalSteps: 10 });
    schedule.step();
    const adam = new AdamW();
    const sgd = new SGD({ momentum: 0.9 });
    applySchedule(adam, schedule);
    applySchedule(sgd, schedule);
    expect([adam.learningRate, adam.beta1]).toEqual([schedule.lr, schedule.momentum]);
    expect([sgd.learningRate, sgd.momentum]).toEqual([schedule.lr, schedule.momentum]);
    applySchedule(sgd, { lr: 0.5 });
    expect([sgd.learningRate, sgd.momentum]).toEqual([0.5, schedule.momentum]);
    expect(() =>
      applySchedule(Object.create(tf.AdamOptimizer.prototype) as AdamW, { lr: 0.1, momentum: 0.9 }),
    ).toThrow(/expected a cnnkit AdamW or SGD/);
  });
});
