// The training loop of the page's worker, the trainer's loop without files: data (@cnnkit/cifar10)
// → model (@cnnkit/resnet) → schedule (@cnnkit/schedulers) drives the optimizer (@cnnkit/optim)
// → step (@cnnkit/train) → lookahead → per-epoch evaluation (@cnnkit/metrics). It yields to the
// worker's event loop after every step, so pause, resume and stop arrive between two steps.
import {
  type Augmentation,
  alternatingFlip,
  CIFAR10_CLASS_NAMES,
  CIFAR10_IMAGE_BYTES,
  CIFAR10_MEAN,
  CIFAR10_STD,
  Cifar10Batches,
  type Cifar10Split,
  horizontalFlip,
  randomCrop,
} from "@cnnkit/cifar10";
import { ClassificationMetrics } from "@cnnkit/metrics";
import { AdamW, applySchedule, decoupledSGD, Lookahead, SGD } from "@cnnkit/optim";
import {
  fastResNet,
  setWhiteningBiasTrainable,
  smallResNet,
  whiteningKernelAsync,
} from "@cnnkit/resnet";
import { type LRSchedule, OneCycleLR, PiecewiseLinear } from "@cnnkit/schedulers";
import { divergenceLimit, trainStep } from "@cnnkit/train";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import type { Recipe } from "./presets.js";
import type { EpochReport, StepReport } from "./protocol.js";

export const CLASS_NAMES = [...CIFAR10_CLASS_NAMES];
export const NORMALIZE = { mean: CIFAR10_MEAN, std: CIFAR10_STD };

/** The first `n` images of a split (views, no copy). */
export function firstImages(split: Cifar10Split, n: number): Cifar10Split {
  const length = Math.min(n, split.length);
  return {
    images: split.images.subarray(0, length * CIFAR10_IMAGE_BYTES),
    labels: split.labels.subarray(0, length),
    length,
  };
}

/** The recipe's training batches: seeded shuffle and augmentation, normalised. */
export function trainBatches(split: Cifar10Split, recipe: Recipe): Cifar10Batches {
  const { padding, paddingMode, alternateFlip } = recipe.augment;
  const augment: Augmentation[] = [
    randomCrop({ padding, paddingMode }),
    alternateFlip ? alternatingFlip() : horizontalFlip(),
  ];
  return new Cifar10Batches(split, {
    batchSize: recipe.batchSize,
    seed: recipe.seed,
    augment,
    normalize: NORMALIZE,
  });
}

/** Evaluation batches: in order, as they are, normalised as in training. */
export function testBatches(split: Cifar10Split): Cifar10Batches {
  return new Cifar10Batches(split, {
    batchSize: 256,
    shuffle: false,
    augment: null,
    normalize: NORMALIZE,
  });
}

/** Metrics of `model` over `split` (its logits never leave the worker's tensors for long). */
export async function evaluate(model: LayersModel, split: Cifar10Split) {
  const metrics = new ClassificationMetrics({ classNames: CLASS_NAMES });
  const batches = testBatches(split);
  for await (const batch of batches.epoch(0)) {
    const logits = tf.tidy(() => model.predict(batch.x) as tf.Tensor2D);
    await metrics.updateAsync(logits, batch.labels);
    tf.dispose([logits, batch.x, batch.y]);
    await nextTurn();
  }
  return metrics.result();
}

/** One turn of the worker's event loop: lets its messages (pause, stop) in. */
export function nextTurn(): Promise<void> {
  return new Promise((done) => setTimeout(done, 0));
}

/** fastResNet's frozen whitening stem from (at most) the first 5,000 normalised images. */
async function whitening(train: Cifar10Split): Promise<Float32Array> {
  const n = Math.min(5000, train.length);
  const x = tf.tidy(() => {
    const bytes = tf.tensor4d(train.images.subarray(0, n * CIFAR10_IMAGE_BYTES), [n, 32, 32, 3]);
    const pixels = tf.div(tf.cast(bytes, "float32"), 255);
    return tf.div(tf.sub(pixels, [...CIFAR10_MEAN]), [...CIFAR10_STD]) as tf.Tensor4D;
  });
  // Read asynchronously: a synchronous read from a GPU backend stalls it (WebGPU in Node cannot).
  const kernel = await whiteningKernelAsync(x);
  x.dispose();
  const data = (await kernel.data()) as Float32Array;
  kernel.dispose();
  return data;
}

async function buildModel(recipe: Recipe, train: Cifar10Split): Promise<LayersModel> {
  const { widths, seed } = recipe;
  if (recipe.model === "fast-resnet") {
    const stem = recipe.whitening ? { whitening: await whitening(train) } : {};
    return fastResNet({ widths, seed, numClasses: 10, ...stem });
  }
  return smallResNet({ widths, seed, numClasses: 10 });
}

/** The optimizer and the schedule over `totalSteps` (the loader's steps, never typed by hand). */
function optimizerAndSchedule(recipe: Recipe, stepsPerEpoch: number) {
  const totalSteps = recipe.epochs * stepsPerEpoch;
  let optimizer: AdamW | SGD;
  let peak = recipe.maxLr;
  if (recipe.optimizer === "adamw") {
    optimizer = new AdamW({ learningRate: recipe.maxLr, weightDecay: recipe.weightDecay });
  } else {
    const settings = decoupledSGD({
      lr: recipe.maxLr,
      weightDecay: recipe.weightDecay,
      momentum: recipe.momentum,
      batchSize: recipe.batchSize,
      biasLrScale: recipe.biasLrScale,
    });
    optimizer = new SGD(settings);
    peak = settings.learningRate;
  }
  let schedule: LRSchedule;
  if (recipe.schedule === "one-cycle") {
    schedule = new OneCycleLR({
      maxLr: peak,
      epochs: recipe.epochs,
      stepsPerEpoch,
      pctStart: recipe.pctStart,
    });
  } else {
    // The fast recipe's triangle: 0.2·peak → peak at pctStart → 0.07·peak at the end.
    const top = Math.max(1, Math.floor(recipe.pctStart * totalSteps));
    schedule =
      top < totalSteps
        ? new PiecewiseLinear({
            milestones: [0, top, totalSteps],
            lrs: [0.2 * peak, peak, 0.07 * peak],
          })
        : new PiecewiseLinear({ milestones: [0, totalSteps], lrs: [0.2 * peak, peak] });
  }
  return { optimizer, schedule, totalSteps };
}

/** How the page steers a run between two steps. */
export interface RunControl {
  /** Resolves at once, or when a paused run is resumed. */
  untilResumed(): Promise<void>;
  /** True once the person asked to stop: the run ends after the current step. */
  readonly stopRequested: boolean;
}

export interface RunHooks {
  onStep(report: StepReport): void;
  onEpoch(report: EpochReport): void;
  /** Called when evaluation starts, which takes a while on 10,000 images. */
  onEvaluating(epoch: number): void;
}

/** What a run leaves: the trained model (the caller disposes it) and how far it got. */
export interface RunOutcome {
  model: LayersModel;
  steps: number;
  stoppedEarly: boolean;
}

/** Trains `recipe` on the first `trainImages` of `train`, evaluating on `test` after each epoch. */
export async function runTraining(
  recipe: Recipe,
  data: { train: Cifar10Split; test: Cifar10Split },
  control: RunControl,
  hooks: RunHooks,
): Promise<RunOutcome> {
  const train = firstImages(data.train, recipe.trainImages);
  const test = firstImages(data.test, recipe.testImages);
  const batches = trainBatches(train, recipe);
  const model = await buildModel(recipe, train);
  const { optimizer, schedule, totalSteps } = optimizerAndSchedule(recipe, batches.stepsPerEpoch);
  const lookahead = recipe.lookahead ? new Lookahead(model, { totalSteps }) : null;
  const maxLoss = divergenceLimit(CLASS_NAMES.length);
  let step = 0;
  let trainingMs = 0;
  let imagesSeen = 0;
  try {
    for (let epoch = 0; epoch < recipe.epochs && !control.stopRequested; epoch++) {
      if (recipe.model === "fast-resnet") {
        setWhiteningBiasTrainable(model, epoch < recipe.whitenBiasEpochs);
      }
      const epochStart = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for await (const batch of batches.epoch(epoch)) {
        const started = performance.now();
        const lr = schedule.lr;
        applySchedule(optimizer, { lr, momentum: schedule.momentum });
        const n = batch.labels.length;
        let result: Awaited<ReturnType<typeof trainStep>>;
        try {
          result = await trainStep(model, optimizer, batch.x, batch.y as tf.Tensor1D, {
            labelSmoothing: recipe.labelSmoothing,
            gradClip: recipe.gradClip,
            maxLoss,
          });
        } finally {
          tf.dispose([batch.x, batch.y]);
        }
        lookahead?.step();
        schedule.step();
        step++;
        trainingMs += performance.now() - started;
        imagesSeen += n;
        lossSum += result.loss * n;
        correct += result.correct;
        seen += n;
        const perStep = trainingMs / step;
        hooks.onStep({
          step,
          totalSteps,
          epoch: epoch + 1,
          epochs: recipe.epochs,
          loss: result.loss,
          accuracy: result.correct / n,
          lr,
          imagesPerSecond: imagesSeen / (trainingMs / 1000),
          etaSeconds: ((totalSteps - step) * perStep) / 1000,
        });
        await nextTurn();
        await control.untilResumed();
        if (control.stopRequested) break;
      }
      // Stopped early: the run ends on the lookahead average, as a finished one does.
      if (control.stopRequested) lookahead?.finish();
      if (seen === 0) break;
      hooks.onEvaluating(epoch + 1);
      const result = await evaluate(model, test);
      hooks.onEpoch({
        epoch: epoch + 1,
        step,
        trainLoss: lossSum / seen,
        trainAccuracy: correct / seen,
        testLoss: result.loss,
        testAccuracy: result.accuracy,
        seconds: (performance.now() - epochStart) / 1000,
      });
    }
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    lookahead?.dispose();
    optimizer.dispose();
  }
  return { model, steps: step, stoppedEarly: step < totalSteps };
}
