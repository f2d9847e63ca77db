// Parameter groups: per-variable learning-rate scale and weight decay, chosen by variable name
// (PyTorch's param_groups, keyed by name because tfjs optimizers only ever see names).
import { OptimError } from "./errors.js";
import { checkNumber, checkOptions, describe } from "./validate.js";

/** Picks the variables of a group from their tfjs names (`"stem_bn/beta"`, `"fc/kernel_1"`). */
export type VariableMatcher = ((variableName: string) => boolean) | RegExp;

/** One parameter group of {@link SGD} or {@link AdamW}: which variables, and how they differ. */
export interface ParamGroup {
  /** The group's variables: a predicate on the variable name, or a RegExp tested against it. Required. */
  match: VariableMatcher;
  /**
   * The group's learning rate is `optimizer.learningRate × lrScale` at every step, so a schedule
   * that sets `learningRate` drives every group (as PyTorch's LambdaLR scales each group's
   * initial lr). Defaults to 1.
   */
  lrScale?: number;
  /**
   * The group's weight decay, in place of the optimizer's (the `decayFilter` is not consulted
   * for the group's variables). Defaults to the optimizer's `weightDecay`, filtered as usual.
   */
  weightDecay?: number;
}

/** A {@link ParamGroup} checked, its matcher a predicate. */
export interface ResolvedParamGroup {
  readonly match: (variableName: string) => boolean;
  readonly lrScale: number;
  readonly weightDecay: number | undefined;
}

const GROUP_KEYS = ["match", "lrScale", "weightDecay"] as const;

/** Checks `groups` (undefined means none) and turns each matcher into a predicate. */
export function resolveParamGroups(owner: string, groups: unknown): ResolvedParamGroup[] {
  if (groups === undefined) return [];
  if (!Array.isArray(groups)) {
    throw new OptimError(
      "invalid_option",
      `${owner}: expected groups to be an array of { match, lrScale?, weightDecay? }, got ${describe(groups)}`,
    );
  }
  return groups.map((group: unknown, i) => {
    const where = `${owner} groups[${i}]`;
    const g = checkOptions<ParamGroup>(where, group as ParamGroup, GROUP_KEYS);
    return {
      match: toPredicate(where, g.match),
      lrScale: checkNumber(where, "lrScale", g.lrScale ?? 1, { min: 0 }),
      weightDecay:
        g.weightDecay === undefined
          ? undefined
          : checkNumber(where, "weightDecay", g.weightDecay, { min: 0 }),
    };
  });
}

function toPredicate(where: string, match: unknown): (variableName: string) => boolean {
  if (typeof match === "function") {
    const f = match as (variableName: string) => unknown;
    return (name) => f(name) === true;
  }
  if (match instanceof RegExp) {
    // Without g/y: a global RegExp's test() moves lastIndex and would skip every other name.
    const re = new RegExp(match.source, match.flags.replace(/[gy]/g, ""));
    return (name) => re.test(name);
  }
  throw new OptimError(
    "invalid_option",
    `${where}: expected match to be a function (variableName) => boolean or a RegExp, got ${describe(match)}`,
  );
}

// tfjs-layers names a BatchNormalization's shift "<layer>/beta", with "_<n>" appended when a
// rebuilt model finds the name taken (as decayKernelsOnly allows for kernels).
const BETA = /(^|\/)beta(_\d+)?$/;

/**
 * Matches BatchNorm biases (tfjs-layers' `beta`, also what `@cnnkit/resnet`'s BatchNorm uses):
 * the variables the fast recipe trains at 64× the learning rate. BatchNorm's `gamma` is not
 * matched (the recipe freezes it).
 */
export const batchNormBiases = (variableName: string): boolean => BETA.test(variableName);
