// Which variables get weight decay: a predicate on the variable's name.

/**
 * Decides per variable whether weight decay applies: `true` = decay it. Called with the tfjs
 * variable name, e.g. `"stage1_block1_conv1/kernel"` or `"stem_bn/gamma"`.
 */
export type DecayFilter = (variableName: string) => boolean;

// Layer variables are named "<layer>/<weight>", with "_<n>" appended when a name is taken.
const KERNEL = /(^|\/)(depthwise_|pointwise_)?kernel(_\d+)?$/;

/**
 * Decay only convolution and dense kernels; leave biases and BatchNorm gamma/beta alone (a
 * common CIFAR practice; the original recipe decays everything, which is the optimizers' default).
 */
export const decayKernelsOnly: DecayFilter = (variableName) => KERNEL.test(variableName);
