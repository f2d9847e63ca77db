// Grad-CAM (Selvaraju et al., 2017): where in the image the evidence for a class lies, read
// from the gradient of that class's logit with respect to one convolutional layer's output.
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import { ExplainError } from "./errors.js";
import { inputShape, splitModel, stageOutputs } from "./graph.js";

/** Options of {@link gradCam} and {@link gradCamMaps}. */
export interface GradCamOptions {
  /**
   * The layer whose output is explained; it must output [N, h, w, channels]. Defaults to the
   * last stage output of a cnnkit ResNet (`stageOutputNames(model).at(-1)`, e.g.
   * `stage3_block2_out`): the last layer that still has a spatial map.
   */
  layer?: string;
  /**
   * The class explained for each image, or one class for all of them. Defaults to the
   * predicted class (the arg-max logit) of each image.
   */
  classIndex?: number | readonly number[];
}

/** The Grad-CAM maps of a batch with what they explain. */
export interface GradCamResult {
  /** Layer explained. */
  readonly layer: string;
  /** One map per image, row-major [height, width], ReLU'd and divided by its maximum. */
  readonly maps: Float32Array[];
  /** Map height (the layer's spatial height, e.g. 8 for a CIFAR ResNet's last stage). */
  readonly height: number;
  /** Map width. */
  readonly width: number;
  /** The class explained for each image. */
  readonly classIndex: number[];
  /** The arg-max class of each image. */
  readonly predicted: number[];
  /** The softmax probability of the explained class of each image. */
  readonly probability: number[];
}

interface ResolvedGradCamOptions {
  layer: string;
  classIndex: number | readonly number[] | undefined;
}

function resolveGradCamOptions(
  model: LayersModel,
  options: GradCamOptions,
  batch: number,
  numClasses: number,
): ResolvedGradCamOptions {
  const layer = options.layer ?? stageOutputs(model, "gradCam", "options.layer").at(-1)!;
  const { classIndex } = options;
  if (classIndex !== undefined) {
    const list: unknown = typeof classIndex === "number" ? [classIndex] : classIndex;
    const valid =
      Array.isArray(list) &&
      (typeof classIndex === "number" || list.length === batch) &&
      list.every((k) => Number.isInteger(k) && k >= 0 && k < numClasses);
    if (!valid) {
      throw new ExplainError(
        "invalid_option",
        `gradCam options.classIndex: expected an integer in [0, ${numClasses}) or ${batch} of them (one per image), got ${JSON.stringify(classIndex)}`,
      );
    }
  }
  return { layer, classIndex };
}

/**
 * Grad-CAM of a batch: for each image, the class logit's gradient with respect to `layer`'s
 * output is averaged over space into one weight per channel, the channels are summed with
 * those weights, negative evidence is cut (ReLU) and the map is divided by its maximum, so it
 * lies in [0, 1] (all zeros when nothing in the layer argues for the class). The model must
 * output logits (not softmax) and runs in inference mode. Tensors made here are disposed.
 */
export function gradCamMaps(
  model: LayersModel,
  images: tf.Tensor4D,
  options: GradCamOptions = {},
): GradCamResult {
  const tensors = gradCamTensors(model, images, options);
  return readResult(tensors, (t) => t.dataSync());
}

/**
 * {@link gradCamMaps} with its results read by `await`: for backends that cannot (WebGPU in
 * Node) or should not (a GPU in a page) be read synchronously. The same maps and numbers.
 */
export async function gradCamMapsAsync(
  model: LayersModel,
  images: tf.Tensor4D,
  options: GradCamOptions = {},
): Promise<GradCamResult> {
  const tensors = gradCamTensors(model, images, options);
  const values = new Map<tf.Tensor, tf.TypedArray>();
  try {
    await Promise.all(
      [tensors.maps, tensors.chosen, tensors.argmax, tensors.prob].map(async (t) => {
        values.set(t, await t.data());
      }),
    );
  } catch (error) {
    tf.dispose([tensors.maps, tensors.chosen, tensors.argmax, tensors.prob]);
    throw error;
  }
  return readResult(tensors, (t) => values.get(t)!);
}

interface GradCamTensors {
  layer: string;
  n: number;
  maps: tf.Tensor;
  chosen: tf.Tensor;
  argmax: tf.Tensor;
  prob: tf.Tensor;
}

/** The result from the tensors (read by `read`), which it disposes. */
function readResult(
  { layer, n, maps, chosen, argmax, prob }: GradCamTensors,
  read: (t: tf.Tensor) => tf.TypedArray,
): GradCamResult {
  try {
    const [, mh, mw] = maps.shape as [number, number, number];
    const flat = read(maps) as Float32Array;
    return {
      layer,
      maps: Array.from({ length: n }, (_, i) => flat.slice(i * mh * mw, (i + 1) * mh * mw)),
      height: mh,
      width: mw,
      classIndex: Array.from(read(chosen)),
      predicted: Array.from(read(argmax)),
      probability: Array.from(read(prob)),
    };
  } finally {
    tf.dispose([maps, chosen, argmax, prob]);
  }
}

/** The checks, then the maps, classes, arg-max classes and probabilities as tensors. */
function gradCamTensors(
  model: LayersModel,
  images: tf.Tensor4D,
  options: GradCamOptions,
): GradCamTensors {
  const [h, w, c] = inputShape(model, "gradCam");
  if (!(images instanceof tf.Tensor) || images.rank !== 4 || images.shape[0] === 0) {
    throw new ExplainError(
      "invalid_input",
      `gradCam images: expected a tf.Tensor4D [N, ${h}, ${w}, ${c}] with N ≥ 1, got ${images instanceof tf.Tensor ? `shape [${images.shape.join(", ")}]` : typeof images}`,
    );
  }
  const [n, ih, iw, ic] = images.shape;
  if (ih !== h || iw !== w || ic !== c) {
    throw new ExplainError(
      "invalid_input",
      `gradCam images: expected shape [N, ${h}, ${w}, ${c}] (the model's input), got [${images.shape.join(", ")}]`,
    );
  }
  const numClasses = model.outputs[0]!.shape.at(-1) ?? 0;
  const o = resolveGradCamOptions(model, options, n, numClasses);
  const split = splitModel(model, o.layer, "gradCam");

  const [maps, chosen, argmax, prob] = tf.tidy(() => {
    const x = images.dtype === "float32" ? images : tf.cast(images, "float32");
    const { activation, logits } = split.prefix(x);
    if (activation.rank !== 4) {
      throw new ExplainError(
        "invalid_option",
        `gradCam options.layer: expected ${JSON.stringify(o.layer)} to output [N, height, width, channels], got shape [${activation.shape.join(", ")}]`,
      );
    }
    const predicted = tf.cast(tf.argMax(logits, 1), "int32");
    const classes =
      o.classIndex === undefined
        ? predicted
        : tf.tensor1d(
            typeof o.classIndex === "number"
              ? new Array<number>(n).fill(o.classIndex)
              : [...o.classIndex],
            "int32",
          );
    const mask = tf.cast(tf.oneHot(classes, numClasses), "float32");
    // The images of a batch do not interact in inference mode, so the gradient of the sum of
    // each image's chosen logit gives every image its own gradient in one backward pass.
    const grads = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(split.head(a), mask)))(activation);
    const weights = tf.mean(grads, [1, 2], true); // [N, 1, 1, C]: αₖ of the paper
    const cam = tf.relu(tf.sum(tf.mul(activation, weights), 3)); // [N, h, w]
    const peak = tf.max(cam, [1, 2], true);
    // A map with no positive evidence stays all zeros instead of 0/0.
    const normalised = tf.divNoNan(cam, peak);
    const probability = tf.sum(tf.mul(tf.softmax(logits), mask), 1);
    return [normalised, classes, predicted, probability];
  });
  return { layer: o.layer, n, maps, chosen, argmax, prob };
}

/**
 * Grad-CAM heat of each image, row-major at the layer's spatial size (8×8 for the last stage
 * of a CIFAR ResNet), in [0, 1]: pass one to viz's `overlayHeatmap(image, heat)`. See
 * {@link gradCamMaps} for the map size, the classes explained and their probabilities.
 */
export function gradCam(
  model: LayersModel,
  images: tf.Tensor4D,
  options: GradCamOptions = {},
): Float32Array[] {
  return gradCamMaps(model, images, options).maps;
}
