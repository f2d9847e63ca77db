import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import * as tf from "@tensorflow/tfjs-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { AdamW, resolveSGDOptions, SGD } from "./index.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});
afterEach(() => {
  tf.disposeVariables();
});

describe("SGD", () => {
  it("has PyTorch's defaults and refuses Nesterov without momentum or with dampening", () => {
    expect(resolveSGDOptions()).toEqual({
      learningRate: 0.01,
      momentum: 0,
      nesterov: false,
      weightDecay: 0,
      dampening: 0,
      decayFilter: undefined,
      groups: [],
    });
    expect(() => new SGD({ nesterov: true })).toThrow(
      /nesterov needs momentum > 0 and dampening = 0, got momentum=0, dampening=0/,
    );
    expect(() => new SGD({ nesterov: true, momentum: 0.9, dampening: 0.1 })).toThrow(
      /dampening=0.1/,
    );
    expect(() => new SGD({ momentum: 2 })).toThrow(
      /momentum to be a finite number in \[0, 1\], got 2/,
    );
    const sgd = new SGD({ momentum: 0.9 });
    sgd.momentum = 0.85;
    expect(sgd.momentum).toBe(0.85);
    expect(sgd instanceof SGD && !(sgd instanceof AdamW)).toBe(true);
  });

  it("starts the momentum buffer at the first gradient (no dampening), then dampens", () => {
    const p = tf.variable(tf.scalar(1), true, "sgd/p");
    const sgd = new SGD({ learningRate: 0.1, momentum: 0.9, dampening: 0.5, weightDecay: 0.1 });
    let expected = 1;
    let buf = 0;
    [2, -1, 0.5].forEach((g, i) => {
      sgd.applyGradients({ "sgd/p": tf.scalar(g) });
      const d = g + 0.1 * expected;
      buf = i === 0 ? d : 0.9 * buf + (1 - 0.5) * d;
      expected -= 0.1 * buf;
    });
    expect(p.dataSync()[0]).toBeCloseTo(expected, 6);
    sgd.dispose();
  });

  it("uses d + momentum·buffer with Nesterov", () => {
    const p = tf.variable(tf.scalar(0), true, "nesterov/p");
    const sgd = new SGD({ learningRate: 1, momentum: 0.5, nesterov: true });
    sgd.applyGradients({ "nesterov/p": tf.scalar(1) }); // buf = 1, step = 1 + 0.5
    sgd.applyGradients({ "nesterov/p": tf.scalar(1) }); // buf = 1.5, step = 1 + 0.75
    expect(p.dataSync()[0]).toBeCloseTo(-(1.5 + 1.75), 6);
    sgd.dispose();
  });
});
