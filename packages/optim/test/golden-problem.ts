// The PyTorch-generated optimizer problems (scripts/gen-fixtures.py) rebuilt in tfjs, and a loop
// that trains them the way the trainer does: schedule → (clip) → optimizer step → schedule.step().
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import { OneCycleLR } from "@cnnkit/schedulers";
import * as tf from "@tensorflow/tfjs-core";
import golden from "../src/__fixtures__/optimizers.json" with { type: "json" };
import {
  AdamW,
  batchNormBiases,
  clipByGlobalNorm,
  decayKernelsOnly,
  type ParamGroup,
  SGD,
} from "../src/index.js";

export interface GoldenCase {
  name: string;
  optimizer: "AdamW" | "SGD";
  seed: number;
  options: Record<string, number | boolean | number[]>;
  oneCycle?: {
    max_lr: number;
    pct_start?: number;
    three_phase?: boolean;
    anneal_strategy?: "cos" | "linear";
  };
  clip?: number;
  decayFilter?: "kernels-only";
  /** Parameter groups, matchers by name (see MATCHERS); torch's param_groups[1:] in this order. */
  groups?: { match: keyof typeof MATCHERS; lr_scale: number; weight_decay: number }[];
  /** LambdaLR's factor at each step (steps + 1 values): lr_k = options.lr × lrFactor[k]. */
  lrFactor?: number[];
  /** airbench's numbers the case's options were converted from (decoupledSGD's input). */
  decoupled?: {
    lr: number;
    weight_decay: number;
    momentum: number;
    batch_size: number;
    bias_scaler: number;
  };
  lr: number[];
  /** Each group's lr per step, as PyTorch set it. */
  groupLr?: number[][];
  momentum: number[];
  preClipNorms: number[] | null;
  final: Record<string, number[]>;
}

interface Fixture {
  steps: number;
  shapes: Record<string, number[]>;
  problems: Record<
    string,
    {
      init: Record<string, number[]>;
      a: Record<string, number[]>;
      t: Record<string, number[]>;
      g: Record<string, number[]>;
    }
  >;
  cases: GoldenCase[];
  lookahead: LookaheadCase[];
}

/** airbench's lookahead, in plain torch, over the steps of the case named `case`. */
export interface LookaheadCase {
  name: string;
  case: string;
  totalSteps: number;
  every: number;
  base: number;
  /** The parameters after each step (and its lookahead update). */
  trajectory: Record<string, number[]>[];
  final: Record<string, number[]>;
}

/** The generator's matchers as cnnkit's: the ready-made one, and a RegExp. */
export const MATCHERS = {
  "bn-beta": batchNormBiases,
  bn: /_bn\//,
} as const;

export const fixture = golden as unknown as Fixture;

export async function useCpu(): Promise<void> {
  await tf.setBackend("cpu");
}

/** The named variables of one problem (prefixed, so several can live in one process) and its loss. */
export class Problem {
  readonly vars: Record<string, tf.Variable> = {};
  readonly #a: Record<string, tf.Tensor> = {};
  readonly #t: Record<string, tf.Tensor> = {};
  readonly #g: Record<string, tf.Tensor> = {};

  constructor(
    readonly seed: number,
    readonly prefix: string,
  ) {
    const p = fixture.problems[String(seed)]!;
    for (const [name, shape] of Object.entries(fixture.shapes)) {
      this.vars[name] = tf.tidy(() =>
        tf.variable(tf.tensor(p.init[name]!, shape), true, `${prefix}/${name}`),
      );
      this.#a[name] = tf.tensor(p.a[name]!, shape);
      this.#t[name] = tf.tensor(p.t[name]!, shape);
      this.#g[name] = tf.tensor(p.g[name]!, [fixture.steps, ...shape]);
    }
  }

  /** sum(A (p − T)²) + sum(G_k p), as in the generator. */
  loss(k: number): tf.Scalar {
    return tf.tidy(() => {
      let total = tf.scalar(0);
      for (const [name, v] of Object.entries(this.vars)) {
        const gk = tf.gather(this.#g[name]!, k);
        total = tf.add(
          total,
          tf.add(
            tf.sum(tf.mul(this.#a[name]!, tf.square(tf.sub(v, this.#t[name]!)))),
            tf.sum(tf.mul(gk, v)),
          ),
        );
      }
      return total as tf.Scalar;
    });
  }

  values(): Record<string, Float32Array> {
    return Object.fromEntries(
      Object.entries(this.vars).map(([n, v]) => [n, v.dataSync() as Float32Array]),
    );
  }

  dispose(): void {
    tf.dispose([
      ...Object.values(this.vars),
      ...Object.values(this.#a),
      ...Object.values(this.#t),
      ...Object.values(this.#g),
    ]);
  }
}

/** A case's groups as cnnkit's {@link ParamGroup}s. */
export function groupsOf(c: GoldenCase): ParamGroup[] {
  return (c.groups ?? []).map((g) => ({
    match: MATCHERS[g.match],
    lrScale: g.lr_scale,
    weightDecay: g.weight_decay,
  }));
}

export function makeOptimizer(c: GoldenCase): AdamW | SGD {
  const o = c.options;
  const decayFilter = c.decayFilter === "kernels-only" ? decayKernelsOnly : undefined;
  const groups = c.groups ? { groups: groupsOf(c) } : {};
  if (c.optimizer === "AdamW") {
    const betas = (o.betas as number[] | undefined) ?? [0.9, 0.999];
    return new AdamW({
      learningRate: o.lr as number,
      beta1: betas[0]!,
      beta2: betas[1]!,
      epsilon: (o.eps as number | undefined) ?? 1e-8,
      weightDecay: (o.weight_decay as number | undefined) ?? 1e-2,
      ...(decayFilter ? { decayFilter } : {}),
      ...groups,
    });
  }
  return new SGD({
    learningRate: o.lr as number,
    momentum: (o.momentum as number | undefined) ?? 0,
    nesterov: (o.nesterov as boolean | undefined) ?? false,
    weightDecay: (o.weight_decay as number | undefined) ?? 0,
    dampening: (o.dampening as number | undefined) ?? 0,
    ...(decayFilter ? { decayFilter } : {}),
    ...groups,
  });
}

export function makeSchedule(c: GoldenCase): OneCycleLR | undefined {
  if (!c.oneCycle) return undefined;
  const o = c.oneCycle;
  return new OneCycleLR({
    maxLr: o.max_lr,
    totalSteps: fixture.steps,
    ...(o.pct_start !== undefined ? { pctStart: o.pct_start } : {}),
    ...(o.three_phase !== undefined ? { threePhase: o.three_phase } : {}),
    ...(o.anneal_strategy !== undefined ? { annealStrategy: o.anneal_strategy } : {}),
  });
}

export interface Trace {
  lr: number[];
  momentum: number[];
  norms: number[];
}

/** Steps `from`..`to − 1` of a case, as the trainer would run them. */
export function train(
  c: GoldenCase,
  problem: Problem,
  optimizer: AdamW | SGD,
  schedule: OneCycleLR | undefined,
  from: number,
  to: number,
  trace: Trace = { lr: [], momentum: [], norms: [] },
): Trace {
  for (let k = from; k < to; k++) {
    if (schedule) {
      optimizer.learningRate = schedule.lr;
      if (optimizer instanceof AdamW) optimizer.beta1 = schedule.momentum!;
      else optimizer.momentum = schedule.momentum!;
    }
    // LambdaLR: the optimizer's lr (and so every group's) is the initial one × the factor.
    if (c.lrFactor) optimizer.learningRate = (c.options.lr as number) * c.lrFactor[k]!;
    trace.lr.push(optimizer.learningRate);
    trace.momentum.push(optimizer instanceof AdamW ? optimizer.beta1 : optimizer.momentum);
    if (c.clip !== undefined) {
      const { value, grads } = optimizer.computeGradients(() => problem.loss(k));
      value.dispose();
      const clipped = clipByGlobalNorm(grads, c.clip);
      tf.dispose(grads);
      trace.norms.push(clipped.totalNorm);
      optimizer.applyGradients(clipped.grads);
      tf.dispose(clipped.grads);
    } else {
      optimizer.minimize(() => problem.loss(k));
    }
    schedule?.step();
  }
  return trace;
}

/**
 * How far the parameters are from PyTorch's, as a fraction of the allowed error
 * `1e-5·|expected| + 1e-6` (numpy's allclose with rtol 1e-5, atol 1e-6): below 1 passes. The
 * atol is for elements that pass near zero: they carry the float32 rounding (~1e-7) of the
 * O(1) values they were computed from, which no relative bound can absorb.
 */
export function closeness(
  actual: Record<string, Float32Array>,
  expected: Record<string, number[]>,
): number {
  let worst = 0;
  for (const [name, want] of Object.entries(expected)) {
    const got = actual[name]!;
    if (got.length !== want.length) return Number.POSITIVE_INFINITY;
    want.forEach((w, i) => {
      worst = Math.max(worst, Math.abs(got[i]! - w) / (1e-5 * Math.abs(w) + 1e-6));
    });
  }
  return worst;
}
