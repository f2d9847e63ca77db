// The training loop: the readable reference of how the cnnkit packages line up.
//
//   data (@cnnkit/cifar10) → model (@cnnkit/resnet) → schedule (@cnnkit/schedulers) sets the
//   optimizer's lr and momentum (@cnnkit/optim's applySchedule) → step (@cnnkit/train: loss +
//   gradients, divergence checks, clip, AdamW/SGD update) → EMA / lookahead (@cnnkit/optim)
//   → per-epoch evaluation (@cnnkit/metrics) → TensorBoard (@cnnkit/tensorboard) → checkpoints
// With `replicas` > 1, the loss and gradients of each batch come from several copies of the
// model working on slices of it (@cnnkit/train's DataParallel, sized by replicas.ts); with
// `stepGraph` (by default where ONNX Runtime runs the convolutions), from one ONNX Runtime session
// per step (@cnnkit/backends' onnxRuntimeTrainingStep, `stepGraphs` below).
import {
  BackendError,
  type OnnxRuntimeTrainingStep,
  onnxRuntimeKernelsActive,
  onnxRuntimeTrainingStep,
} from "@cnnkit/backends";
import { batchGrid } from "@cnnkit/cifar10/pictures";
import type { TTALevel } from "@cnnkit/export";
import { MetricsError, type MetricsResult } from "@cnnkit/metrics";
import { confusionMatrixPicture } from "@cnnkit/metrics/pictures";
import { AdamW, applySchedule, decoupledSGD, Lookahead, SGD, WeightEMA } from "@cnnkit/optim";
import { setWhiteningBiasTrainable } from "@cnnkit/resnet";
import { type LRSchedule, OneCycleLR, PiecewiseLinear } from "@cnnkit/schedulers";
import { SummaryWriter } from "@cnnkit/tensorboard";
import {
  applyBatchGradients,
  type DynamicLossScalerOptions,
  divergenceLimit,
  NonFiniteLossError,
  type TrainStepOptions,
  type TrainStepResult,
  trainStep,
} from "@cnnkit/train";
import { DataParallel, dataParallelStep, threadsPerReplica } from "@cnnkit/train/data-parallel";
import * as tf from "@tensorflow/tfjs-core";
import type { LayersModel } from "@tensorflow/tfjs-layers";
import {
  type EpochRecord,
  loadCheckpoint,
  saveCheckpoint,
  type TrainingState,
} from "./checkpoint.js";
import type { TrainConfig } from "./config.js";
import { loadDataset, type RunData, selectRunData, testBatches, trainBatches } from "./data.js";
import { TrainerError } from "./errors.js";
import { type EvaluationRuntime, evaluate } from "./evaluate.js";
import { faultPoint } from "./fault-points.js";
import { buildModel, replicaBuilder, whiteningOf } from "./model.js";
import { type EmulatedPrecisionSummary, emulatedFloat16, precisionLine } from "./precision.js";
import { Progress } from "./progress.js";
import { resolveReplicas } from "./replicas.js";
import { exists, runPaths, writeJsonAtomic } from "./run-dir.js";

export interface TrainOptions {
  /** The run directory (created if needed). */
  runDir: string;
  /** Continue from `runDir/checkpoints/last` instead of starting afresh. Defaults to `false`. */
  resume?: boolean;
  /** The data, already loaded and subset (tests pass synthetic data). Defaults to loading it as the config says. */
  data?: RunData;
  /** Progress display. Defaults to a `Progress` on stderr printing every `config.logEvery` steps. */
  progress?: Progress;
  /** Aborting stops after the current step, saves `checkpoints/last` and returns `"interrupted"`. */
  signal?: AbortSignal;
  /** What the run is on (the `useBackend` line), saved in `metrics.json`. Defaults to `tf.getBackend()`. */
  backend?: { backend: string; reason: string };
  /**
   * Where the test set's forward passes run (`EvaluationRuntime`). `"onnxruntime"` falls back to
   * tfjs, saying why in one progress line, when the model has a layer the ONNX exporter does not
   * know or onnxruntime-node does not load. Defaults to `"tfjs"`; the CLI passes
   * `"onnxruntime"` when `useBackend` put the convolutions on ONNX Runtime.
   */
  evaluation?: EvaluationRuntime;
  /** Called after each epoch's checkpoints are written (tests inject faults here). */
  afterEpoch?: (info: { epoch: number; step: number; model: LayersModel }) => void | Promise<void>;
  /**
   * Called in every step with the raw gradients before the optimizer applies them (`step` counts
   * the steps already taken). The experiments record per-block gradient norms here; the
   * optimizer is passed so the scheduler-pitfall experiment can drive it from a mis-sized
   * schedule. Disposed after the call: do not keep the tensors. Defaults to none.
   */
  onGradients?: (info: {
    step: number;
    grads: tf.NamedTensorMap;
    model: LayersModel;
    optimizer: AdamW | SGD;
  }) => void;
  /**
   * The loss scaler's options with `precision: "fp16-emulated"` (the mixed-precision experiment
   * shortens the growth interval so that growth and backoff fit in a short run). Defaults to
   * PyTorch GradScaler's.
   */
  lossScaler?: DynamicLossScalerOptions;
  /**
   * Builds the network instead of `config.model` (the residuals experiment trains networks
   * @cnnkit/resnet does not build: without BatchNorm). One model only: refused with replicas.
   * Defaults to building `config.model`.
   */
  buildModel?: (numClasses: number) => LayersModel;
}

export interface TrainResult {
  status: "completed" | "interrupted";
  history: EpochRecord[];
  best: { accuracy: number; epoch: number } | null;
  /** The test metrics of the best epoch (null if this session finished none). */
  bestResult: MetricsResult | null;
  /** The test metrics of the last epoch (null if this session finished none). */
  lastResult: MetricsResult | null;
  globalStep: number;
  stepsPerEpoch: number;
  data: RunData;
}

/** `metrics.json`: per-epoch figures and the run's outcome. */
export interface MetricsFile {
  status: "running" | "completed" | "interrupted" | "diverged";
  backend: { backend: string; reason: string };
  /** Data-parallel replicas the run trained with (the resolved `replicas`). */
  replicas: number;
  /** `"fp32"`, or what an emulated float16 run did (loss scale, skipped steps, underflow). */
  precision: "fp32" | EmulatedPrecisionSummary;
  stepsPerEpoch: number;
  totalSteps: number;
  epochs: EpochRecord[];
  final: {
    bestTestAccuracy: number | null;
    bestEpoch: number | null;
    lastTestAccuracy: number | null;
    /** The last epoch's test accuracy with test-time augmentation (`null` without TTA). */
    lastTestAccuracyTta: number | null;
    trainingSeconds: number;
  };
}

interface StepGraphs {
  step(
    optimizer: tf.Optimizer,
    x: tf.Tensor4D,
    y: tf.Tensor1D,
    options: TrainStepOptions,
  ): Promise<TrainStepResult>;
  dispose(): void;
}

/**
 * The run's training steps as ONNX Runtime sessions (`config.stepGraph`), or `null` for kernel
 * by kernel: forward, loss and every gradient in one graph (@cnnkit/backends'
 * `onnxRuntimeTrainingStep`), then the run's optimizer through @cnnkit/train's
 * `applyBatchGradients` (its divergence, clipping and finite-gradient checks, as `trainStep`).
 * One session per batch size (an epoch's last batch may be smaller), rebuilt when the trainable
 * weights change (fast-resnet's stem bias freezes after `whitenBiasEpochs`); the session reads
 * the model's weights on every step. `"auto"` takes it where it can and says why not otherwise;
 * `true` throws instead.
 */
async function stepGraphs(
  model: LayersModel,
  config: TrainConfig,
  replicaCount: number,
  progress: Progress,
): Promise<StepGraphs | null> {
  if (config.stepGraph === false) return null;
  const required = config.stepGraph === true;
  const onOnnxRuntime = onnxRuntimeKernelsActive() != null;
  const unavailable = !onOnnxRuntime
    ? `the convolutions are not on ONNX Runtime (backend wasm or cpu with onnxruntime-node installed; this run's ${tf.getBackend()} backend runs its own)`
    : replicaCount !== 1
      ? `the run trains ${replicaCount} replicas`
      : config.precision !== "fp32"
        ? `precision is ${config.precision}`
        : null;
  if (unavailable !== null) {
    if (required) {
      throw new TrainerError("config_invalid", `stepGraph: cannot run here: ${unavailable}`);
    }
    // Where the user asked for nothing, nothing to say: replicas and float16 are their choices.
    if (onOnnxRuntime && replicaCount === 1) {
      progress.line(`training steps: kernel by kernel (${unavailable})`);
    }
    return null;
  }
  const sessions = new Map<number, { step: OnnxRuntimeTrainingStep; trainable: string }>();
  const stepFor = async (batchSize: number): Promise<OnnxRuntimeTrainingStep> => {
    const trainable = model.trainableWeights.map((w) => w.name).join("\n");
    const cached = sessions.get(batchSize);
    if (cached?.trainable === trainable) return cached.step;
    cached?.step.dispose();
    sessions.delete(batchSize);
    let step: OnnxRuntimeTrainingStep;
    try {
      step = await onnxRuntimeTrainingStep(model, {
        batchSize,
        labelSmoothing: config.labelSmoothing,
      });
    } catch (error) {
      if (BackendError.isInstance(error)) {
        throw new TrainerError("config_invalid", `stepGraph: ${error.message}`, { cause: error });
      }
      throw error;
    }
    sessions.set(batchSize, { step, trainable });
    return step;
  };
  // The batch size's session now: a model the graph cannot write shows here, before any step.
  let first: OnnxRuntimeTrainingStep;
  try {
    first = await stepFor(config.batchSize);
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    if (!required && BackendError.isInstance(cause) && cause.code === "unsupported_layer") {
      progress.line(`training steps: kernel by kernel (${cause.message})`);
      return null;
    }
    throw error;
  }
  progress.line(
    `training steps: one ONNX Runtime session each (batch ${config.batchSize}; ${first.threads} threads, NCHWc block ${first.blockSize}; --no-step-graph: kernel by kernel)`,
  );
  return {
    async step(optimizer, x, y, options) {
      const graph = await stepFor(x.shape[0]);
      const { loss, correct, grads } = await graph.gradients(x, y);
      try {
        const { gradNorm } = applyBatchGradients(optimizer, loss, grads, options);
        return { loss, correct, gradNorm };
      } finally {
        tf.dispose(grads);
      }
    },
    dispose() {
      for (const { step } of sessions.values()) step.dispose();
      sessions.clear();
    },
  };
}

/**
 * The optimizer, and the peak learning rate the schedule scales (for `decoupled-sgd`, the
 * per-1,024-examples `maxLr` converted for this batch size and a mean loss).
 */
function makeOptimizer(config: TrainConfig): { optimizer: AdamW | SGD; peakLr: number } {
  // The initial lr is a placeholder: the schedule sets it before every step.
  if (config.optimizer === "adamw") {
    const optimizer = new AdamW({ learningRate: config.maxLr, weightDecay: config.weightDecay });
    return { optimizer, peakLr: config.maxLr };
  }
  if (config.optimizer === "decoupled-sgd") {
    const settings = decoupledSGD({
      lr: config.maxLr,
      weightDecay: config.weightDecay,
      momentum: config.momentum,
      batchSize: config.batchSize,
      biasLrScale: config.biasLrScale,
    });
    return { optimizer: new SGD(settings), peakLr: settings.learningRate };
  }
  const optimizer = new SGD({
    learningRate: config.maxLr,
    momentum: config.momentum,
    nesterov: true,
    weightDecay: config.weightDecay,
  });
  return { optimizer, peakLr: config.maxLr };
}

/**
 * The learning-rate schedule over `totalSteps`: OneCycleLR, or the fast recipe's triangle
 * (0.2·peak → peak at `pctStart` → 0.07·peak at the end, as airbench94).
 */
function makeSchedule(
  config: TrainConfig,
  peakLr: number,
  stepsPerEpoch: number,
): LRSchedule & { readonly stepCount: number } {
  if (config.schedule === "triangle") {
    const total = config.epochs * stepsPerEpoch;
    const peak = Math.max(1, Math.floor(config.pctStart * total));
    return new PiecewiseLinear({
      milestones: peak < total ? [0, peak, total] : [0, total],
      lrs: peak < total ? [0.2 * peakLr, peakLr, 0.07 * peakLr] : [0.2 * peakLr, peakLr],
    });
  }
  return new OneCycleLR({
    maxLr: peakLr,
    epochs: config.epochs,
    stepsPerEpoch,
    pctStart: config.pctStart,
  });
}

function configMarkdown(config: TrainConfig): string {
  const rows = Object.entries(config).map(([k, v]) => `| ${k} | \`${JSON.stringify(v)}\` |`);
  return ["| option | value |", "|---|---|", ...rows].join("\n");
}

/** Trains as `config` says, writing config, metrics, TensorBoard events and checkpoints to `runDir`. */
export async function train(config: TrainConfig, options: TrainOptions): Promise<TrainResult> {
  const paths = runPaths(options.runDir);
  if (!options.resume && (await exists(paths.config))) {
    // Two runs in one directory would mix their checkpoints and TensorBoard events.
    throw new TrainerError(
      "run_exists",
      `${paths.root} already holds a run (config.json); continue it with --resume ${paths.root}, or choose another --out`,
    );
  }
  const progress = options.progress ?? new Progress({ every: config.logEvery });
  const backend = options.backend ?? { backend: tf.getBackend(), reason: "set by the caller" };
  const data = options.data ?? selectRunData(await loadDataset(config), config);

  // Steps per epoch come from the loader (last partial batch included), and the schedule's
  // total from them: never typed by hand.
  const trainData = trainBatches(data.train, config);
  const testData = testBatches(data.test, config);
  const stepsPerEpoch = trainData.stepsPerEpoch;
  const totalSteps = config.epochs * stepsPerEpoch;

  // fast-resnet's frozen whitening stem comes from the training images themselves.
  const whitening = whiteningOf(data.train, config);
  // Data-parallel copies of the model (replicas.ts), started below; 1 = this model alone.
  const replicaCount = resolveReplicas(config, tf.getBackend());
  if (options.buildModel && replicaCount > 1) {
    throw new TrainerError(
      "config_invalid",
      `replicas: expected 1 with a custom buildModel (the replicas build config.model), got ${replicaCount}`,
    );
  }
  const model =
    options.buildModel?.(data.classNames.length) ??
    buildModel(config, data.classNames.length, whitening);
  let evaluation: EvaluationRuntime = options.evaluation ?? "tfjs";
  const evaluateTest = (tta: TTALevel): Promise<MetricsResult> =>
    evaluate(model, testData, data.classNames, {
      tta,
      runtime: evaluation,
      onFallback: (line) => {
        progress.line(line);
        evaluation = "tfjs";
      },
    });
  const { optimizer, peakLr } = makeOptimizer(config);
  const schedule = makeSchedule(config, peakLr, stepsPerEpoch);
  const ema = config.ema === null ? null : new WeightEMA(model, { decay: config.ema });
  const lookahead = config.lookahead ? new Lookahead(model, { totalSteps }) : null;
  const parts = { model, optimizer, ema, lookahead };
  const float16 = emulatedFloat16(config, options.lossScaler);
  const writer = new SummaryWriter(paths.tensorboard);

  let state: TrainingState;
  if (options.resume) {
    state = await loadCheckpoint(paths.last, parts);
    schedule.loadStateDict(state.schedule);
    float16?.loadStateDict(state.lossScaler);
    progress.line(
      `resuming ${paths.root} at epoch ${state.epoch + 1}, step ${state.step}/${stepsPerEpoch}`,
    );
  } else {
    state = {
      epoch: 0,
      step: 0,
      globalStep: 0,
      schedule: schedule.stateDict(),
      rng: { seed: config.seed, epoch: 0, step: 0 },
      running: { lossSum: 0, correct: 0, seen: 0, seconds: 0 },
      history: [],
      best: null,
      elapsedSeconds: 0,
    };
    await writeJsonAtomic(paths.config, config);
    writer.text("config", configMarkdown(config), 0);
    await logAugmentedBatch(writer, trainData, data.classNames);
    // A checkpoint before the first step: there is always a good one to go back to.
    await saveCheckpoint(paths.last, parts, state);
  }

  const metricsFile = (status: MetricsFile["status"]): MetricsFile => ({
    status,
    backend,
    replicas: replicaCount,
    precision: float16?.summary() ?? "fp32",
    stepsPerEpoch,
    totalSteps,
    epochs: state.history,
    final: {
      bestTestAccuracy: state.best?.accuracy ?? null,
      bestEpoch: state.best?.epoch ?? null,
      lastTestAccuracy: state.history.at(-1)?.testAccuracy ?? null,
      lastTestAccuracyTta: state.history.at(-1)?.testAccuracyTta ?? null,
      trainingSeconds: state.elapsedSeconds,
    },
  });
  const snapshot = (epoch: number, step: number): TrainingState => ({
    ...state,
    epoch,
    step,
    schedule: schedule.stateDict(),
    rng: { seed: config.seed, epoch, step },
    ...(float16 ? { lossScaler: float16.stateDict() } : {}),
  });

  const precision = precisionLine(config);
  if (precision) progress.line(precision);
  let bestResult: MetricsResult | null = null;
  let lastResult: MetricsResult | null = null;
  let status: TrainResult["status"] = "completed";
  let replicas: DataParallel | null = null;
  let graphSteps: StepGraphs | null = null;
  try {
    if (replicaCount > 1) {
      replicas = await DataParallel.start(model, {
        replicas: replicaCount,
        build: replicaBuilder(config, data.classNames.length, whitening),
      });
      progress.line(
        `data-parallel: ${replicaCount} replicas of the model, ${threadsPerReplica(replicaCount)} thread(s) each; ` +
          `BatchNorm normalises each replica's slice of ${Math.ceil(config.batchSize / replicaCount)} images`,
      );
    }
    graphSteps = await stepGraphs(model, config, replicaCount, progress);
    for (let epoch = state.epoch; epoch < config.epochs; epoch++) {
      const startStep = epoch === state.epoch ? state.step : 0;
      if (config.model === "fast-resnet") {
        // The whitening stem's bias trains for the first whitenBiasEpochs epochs only.
        setWhiteningBiasTrainable(model, epoch < config.whitenBiasEpochs);
      }
      if (startStep === 0) state.running = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
      let lr = schedule.lr;
      let stepStart = performance.now();
      for await (const batch of trainData.epoch(epoch, { startStep })) {
        // The schedule drives the optimizer: lr and beta1 (AdamW) or momentum (SGD) per step.
        lr = schedule.lr;
        const momentum = schedule.momentum;
        applySchedule(optimizer, { lr, momentum });
        let result: TrainStepResult;
        try {
          const stepOptions: TrainStepOptions = {
            labelSmoothing: config.labelSmoothing,
            gradClip: config.gradClip,
            maxLoss: divergenceLimit(data.classNames.length),
            float16: float16?.stepOption,
            onGradients:
              options.onGradients &&
              ((grads) =>
                options.onGradients?.({ step: state.globalStep, grads, model, optimizer })),
          };
          result = replicas
            ? // The replicas take the batch from the host, where the loader made it.
              await dataParallelStep(
                replicas,
                optimizer,
                { values: batch.pixels, shape: batch.x.shape },
                batch.labels,
                stepOptions,
              )
            : graphSteps
              ? await graphSteps.step(optimizer, batch.x, batch.y as tf.Tensor1D, stepOptions)
              : await trainStep(model, optimizer, batch.x, batch.y as tf.Tensor1D, stepOptions);
        } catch (error) {
          if (NonFiniteLossError.isInstance(error)) {
            throw diverged(error, epoch, batch.step, lr, paths.last, state);
          }
          throw error;
        } finally {
          tf.dispose([batch.x, batch.y]);
        }
        ema?.update();
        lookahead?.step();
        schedule.step();
        state.globalStep++;

        const n = batch.labels.length;
        const now = performance.now();
        const seconds = (now - stepStart) / 1000;
        stepStart = now;
        const r = state.running;
        r.lossSum += result.loss * n;
        r.correct += result.correct;
        r.seen += n;
        r.seconds += seconds;
        state.elapsedSeconds += seconds;
        const g = state.globalStep;
        writer.scalar("train/loss", result.loss, g);
        writer.scalar("train/acc", result.correct / n, g);
        writer.scalar("lr", lr, g);
        float16?.record(writer, g, result);
        // Before clipping: how often the clip fires is how often this exceeds config.gradClip.
        if (result.gradNorm !== null) writer.scalar("train/grad_norm", result.gradNorm, g);
        if (momentum !== undefined) writer.scalar("momentum", momentum, g);
        writer.scalar("images_per_second", n / seconds, g);
        progress.update({
          epoch: epoch + 1,
          epochs: config.epochs,
          step: batch.step + 1,
          stepsPerEpoch,
          loss: r.lossSum / r.seen,
          accuracy: r.correct / r.seen,
          lr,
          imagesPerSecond: r.seen / r.seconds,
        });
        // A synchronous backend never yields on its own: without this turn of the event loop a
        // SIGINT/SIGTERM handler could not run before the epoch ends (one setImmediate per step).
        await new Promise(setImmediate);
        await faultPoint("step");
        if (options.signal?.aborted && batch.step + 1 < stepsPerEpoch) {
          // Ctrl-C mid-epoch: save where we are; the loader rebuilds the same batches on resume.
          await saveCheckpoint(paths.last, parts, snapshot(epoch, batch.step + 1));
          status = "interrupted";
          break;
        }
      }
      if (status === "interrupted") break;

      // End of epoch: evaluate (the EMA weights when the run keeps an average); after the last
      // epoch also with test-time augmentation, reported beside the plain accuracy.
      const evaluateAt = (tta: TTALevel) =>
        ema ? ema.evaluate(() => evaluateTest(tta)) : evaluateTest(tta);
      // Non-finite test logits (NaN, or ±Infinity making the loss infinite): the weights
      // overflowed, the divergence rule's other half.
      const divergedAtTest = (what: string) =>
        new TrainerError(
          "non_finite_loss",
          `epoch ${epoch + 1}: ${what} (the model's logits overflowed): training diverged; this epoch was not saved and the last good checkpoint is kept in ${paths.last}. Try a lower --max-lr or --grad-clip 1.`,
        );
      const plain = await evaluateAt(0).catch((error) => {
        if (MetricsError.isInstance(error) && error.code === "non_finite_logits") {
          throw divergedAtTest("a test logit is NaN");
        }
        throw error;
      });
      if (!Number.isFinite(plain.loss)) throw divergedAtTest(`the test loss is ${plain.loss}`);
      if (ema) {
        // The weights the optimizer holds, beside their average: what the EMA buys (report).
        const raw = await evaluateTest(0);
        writer.scalar("test/acc_raw_weights", raw.accuracy, state.globalStep);
      }
      const withTta =
        epoch + 1 === config.epochs && config.tta > 0 ? await evaluateAt(config.tta) : null;
      // The report shows what the run's predictions are: with TTA when the run uses it.
      const result = withTta ?? plain;
      lastResult = result;
      const r = state.running;
      const record: EpochRecord = {
        epoch: epoch + 1,
        trainLoss: r.lossSum / r.seen,
        trainAccuracy: r.correct / r.seen,
        testLoss: plain.loss,
        testAccuracy: plain.accuracy,
        ...(withTta ? { testAccuracyTta: withTta.accuracy } : {}),
        lr,
        seconds: r.seconds,
        imagesPerSecond: r.seen / r.seconds,
      };
      state.history = [...state.history, record];
      await logEpoch(writer, model, record, result, state.globalStep);
      progress.line(
        `epoch ${epoch + 1}/${config.epochs}: train loss ${record.trainLoss.toFixed(4)} acc ${pct(record.trainAccuracy)}, ` +
          `test loss ${record.testLoss.toFixed(4)} acc ${pct(record.testAccuracy)}` +
          (withTta ? ` (with TTA ${pct(withTta.accuracy)})` : "") +
          `, ${record.seconds.toFixed(1)} s`,
      );
      if (state.best === null || record.testAccuracy > state.best.accuracy) {
        state.best = { accuracy: record.testAccuracy, epoch: epoch + 1 };
        bestResult = result;
        await saveCheckpoint(paths.best, parts, snapshot(epoch + 1, 0));
      }
      await saveCheckpoint(paths.last, parts, snapshot(epoch + 1, 0));
      await writeJsonAtomic(paths.metrics, metricsFile("running"));
      await options.afterEpoch?.({ epoch: epoch + 1, step: state.globalStep, model });
      if (options.signal?.aborted && epoch + 1 < config.epochs) {
        status = "interrupted";
        break;
      }
    }
    if (status === "completed" && schedule.stepCount !== totalSteps) {
      // The OneCycleLR pitfall, checked: a schedule that did not run its course means the loop
      // and the schedule disagree about the length of the run.
      throw new TrainerError(
        "schedule_mismatch",
        `the schedule was stepped ${schedule.stepCount} times, expected epochs × stepsPerEpoch = ${config.epochs} × ${stepsPerEpoch} = ${totalSteps}`,
      );
    }
    await writeJsonAtomic(paths.metrics, metricsFile(status));
    if (status === "completed" && state.best) {
      writer.hparams(hparamsOf(config), {
        "test/acc": state.history.at(-1)?.testAccuracy ?? 0,
        "hparam/best_test_acc": state.best.accuracy,
      });
    }
  } catch (error) {
    if (error instanceof TrainerError && error.code === "non_finite_loss") {
      await writeJsonAtomic(paths.metrics, metricsFile("diverged"));
      writer.hparams(hparamsOf(config), {}, { status: "failure" });
    }
    throw error;
  } finally {
    await replicas?.close();
    graphSteps?.dispose();
    progress.done();
    await writer.close();
    ema?.dispose();
    lookahead?.dispose();
    optimizer.dispose();
    model.dispose();
  }
  return {
    status,
    history: state.history,
    best: state.best,
    bestResult,
    lastResult,
    globalStep: state.globalStep,
    stepsPerEpoch,
    data,
  };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

function hparamsOf(config: TrainConfig): Record<string, string | number | boolean> {
  return {
    preset: config.preset,
    model: config.model,
    widths: config.widths.join(","),
    shortcut: config.shortcut,
    epochs: config.epochs,
    batch_size: config.batchSize,
    optimizer: config.optimizer,
    max_lr: config.maxLr,
    weight_decay: config.weightDecay,
    label_smoothing: config.labelSmoothing,
    grad_clip: config.gradClip ?? 0,
    ema: config.ema ?? 0,
    train_subset: config.trainSubset ?? 50_000,
    normalize: config.normalize,
    seed: config.seed,
  };
}

function diverged(
  error: NonFiniteLossError,
  epoch: number,
  step: number,
  lr: number,
  last: string,
  state: TrainingState,
): TrainerError {
  const kept =
    state.history.length > 0
      ? `the last good checkpoint (after epoch ${state.history.length}) is kept in ${last}`
      : `the last good checkpoint (the initial weights) is kept in ${last}`;
  return new TrainerError(
    "non_finite_loss",
    `epoch ${epoch + 1}, step ${step + 1}: ${error.message} at lr ${lr.toExponential(3)}; the step was not applied and ${kept}. Try a lower --max-lr or --grad-clip 1.`,
    { cause: error },
  );
}

/** The first training batch exactly as the model sees it (augmented, normalised), as a picture. */
async function logAugmentedBatch(
  writer: SummaryWriter,
  batches: ReturnType<typeof trainBatches>,
  classNames: readonly string[],
): Promise<void> {
  const batch = batches.toTensors(batches.prepare(0, 0, batches.order(0)), 0);
  try {
    const picture = await batchGrid(batch, {
      normalize: batches.options.normalize,
      classNames,
      maxImages: 32,
    });
    writer.image("train/augmented_batch", picture, 0);
  } finally {
    tf.dispose([batch.x, batch.y]);
  }
}

async function logEpoch(
  writer: SummaryWriter,
  model: LayersModel,
  record: EpochRecord,
  result: MetricsResult,
  step: number,
): Promise<void> {
  // At the global step the epoch ended on, the axis of train/*: one step axis for every tag.
  writer.scalar("test/loss", record.testLoss, step);
  writer.scalar("test/acc", record.testAccuracy, step);
  if (record.testAccuracyTta !== undefined)
    writer.scalar("test/acc_tta", record.testAccuracyTta, step);
  writer.scalar("epoch/train_loss", record.trainLoss, step);
  writer.scalar("epoch/train_acc", record.trainAccuracy, step);
  writer.image("test/confusion_matrix", confusionMatrixPicture(result), step);
  for (const w of model.weights) {
    writer.histogram(`weights/${w.originalName}`, (await w.read().data()) as Float32Array, step);
  }
  await writer.flush();
}
