// The writer: validates what a training loop logs, encodes it as Event protobufs framed as
// TFRecords, queues the records and hands them to a sink on an interval and on close.
import { describeValue as describe } from "./describe-value.js";
import { TensorBoardError } from "./errors.js";
import {
  DATA_CLASS_TENSOR,
  DT_FLOAT,
  DT_STRING,
  encodeEvent,
  encodeHParamsPluginData,
  HPARAMS_STATUS,
  type HParamValue,
  type SessionStatus,
  type TfEvent,
  type TfSummaryValue,
} from "./event-proto.js";
import type { EventSink } from "./event-sink.js";
import { FileSink } from "./file-sink.js";
import { buildHistogram, type HistogramOptions } from "./histogram.js";
import { type ImageInput, toSummaryImage } from "./image-input.js";
import { encodeRecord } from "./tfrecord.js";

/** Options of `SummaryWriter`. */
export interface SummaryWriterOptions {
  /**
   * Where the records go; in a browser pass a `MemorySink`. Defaults to a `FileSink`: a new
   * `events.out.tfevents.*` file in `logdir` (Node.js).
   */
  sink?: EventSink;
  /**
   * Milliseconds between automatic flushes; a crash loses at most the events of the last
   * interval. `0` turns the timer off (flush on `maxQueue`, `flush()` and `close()` only).
   * Defaults to `5000`.
   */
  flushIntervalMs?: number;
  /** Flush as soon as this many events are queued. Defaults to `100`. */
  maxQueue?: number;
  /** Appended to the event file's name (default sink only). Defaults to `""`. */
  filenameSuffix?: string;
  /** The clock for wall times, in milliseconds since the epoch. Defaults to `Date.now`. */
  now?: () => number;
}

interface ResolvedSummaryWriterOptions {
  flushIntervalMs: number;
  maxQueue: number;
  filenameSuffix: string;
  now: () => number;
}

/** Options of `SummaryWriter.hparams()`. */
export interface HParamsOptions {
  /**
   * The step at which the `metrics` are written as scalars. Defaults to the largest step
   * logged so far by this writer (0 if none).
   */
  step?: number;
  /** How the run ended. Defaults to `"success"`. */
  status?: SessionStatus;
  /**
   * Groups runs that repeat the same hyperparameters (e.g. seeds) into one row. Defaults to
   * `""`: TensorBoard then uses the run itself as its group.
   */
  groupName?: string;
  /** When the run started, in milliseconds since the epoch. Defaults to the writer's creation. */
  startTimeMs?: number;
}

const FILE_VERSION = "brain.Event:2";
const HPARAMS_PLUGIN = "hparams";
const SESSION_START_TAG = "_hparams_/session_start_info";
const SESSION_END_TAG = "_hparams_/session_end_info";
const RESERVED_TAG_PREFIX = "_hparams_/";
// tensorboard/plugins/hparams/metadata.py NULL_TENSOR: a length-0 float vector, the smallest
// valid tensor, because the data pipeline expects every hparams value to carry a tensor.
const NULL_TENSOR = { dtype: DT_FLOAT, shape: [0] };
// Serialized TextPluginData { version: 0 }: every field at its default, so zero bytes.
const TEXT_PLUGIN_CONTENT = new Uint8Array(0);

function resolveSummaryWriterOptions(options: SummaryWriterOptions): ResolvedSummaryWriterOptions {
  const flushIntervalMs = options.flushIntervalMs ?? 5000;
  if (!Number.isFinite(flushIntervalMs) || flushIntervalMs < 0) {
    throw new TensorBoardError(
      "invalid_option",
      `SummaryWriter options.flushIntervalMs: expected a non-negative number of milliseconds, got ${flushIntervalMs}`,
    );
  }
  const maxQueue = options.maxQueue ?? 100;
  if (!Number.isInteger(maxQueue) || maxQueue < 1) {
    throw new TensorBoardError(
      "invalid_option",
      `SummaryWriter options.maxQueue: expected a positive integer, got ${maxQueue}`,
    );
  }
  const now = options.now ?? Date.now;
  if (typeof now !== "function") {
    throw new TensorBoardError(
      "invalid_option",
      `SummaryWriter options.now: expected a function returning milliseconds, got ${typeof now}`,
    );
  }
  return { flushIntervalMs, maxQueue, filenameSuffix: options.filenameSuffix ?? "", now };
}

// One process-wide `exit` listener saves every open writer's queue, instead of one listener
// per writer (which would trip Node's MaxListenersExceededWarning with many runs).
const openWriters = new Set<() => void>();
let exitHookInstalled = false;
function trackOpenWriter(saveQueue: () => void): void {
  openWriters.add(saveQueue);
  const proc = (globalThis as { process?: { once?: (e: string, f: () => void) => void } }).process;
  if (!exitHookInstalled && typeof proc?.once === "function") {
    exitHookInstalled = true;
    proc.once("exit", () => {
      for (const saveQueue of openWriters) saveQueue();
    });
  }
}

/**
 * Writes TensorBoard event files from plain TypeScript: scalars, histograms, images, text and
 * hyperparameters, on any tfjs backend or none.
 *
 * ```ts
 * const writer = new SummaryWriter("runs/resnet20");
 * writer.scalar("train/loss", 0.42, step);
 * await writer.close();
 * ```
 */
export class SummaryWriter {
  /** The log directory this writer was created for (a TensorBoard "run"). */
  readonly logdir: string;
  readonly #options: ResolvedSummaryWriterOptions;
  readonly #sink: EventSink;
  readonly #startMs: number;
  #pending: Uint8Array[] = [];
  #tail: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #failure: TensorBoardError | undefined;
  #closing: Promise<void> | undefined;
  #lastStep = 0;
  #hparamsWritten = false;

  constructor(logdir: string, options: SummaryWriterOptions = {}) {
    this.#options = resolveSummaryWriterOptions(options);
    if (options.sink === undefined && (typeof logdir !== "string" || logdir === "")) {
      throw new TensorBoardError(
        "invalid_option",
        `SummaryWriter logdir: expected a non-empty directory path, got ${JSON.stringify(logdir)}`,
      );
    }
    this.logdir = logdir;
    this.#startMs = this.#options.now();
    this.#sink =
      options.sink ??
      new FileSink(logdir, {
        filenameSuffix: this.#options.filenameSuffix,
        timeMs: this.#startMs,
      });
    this.#enqueue({ wallTime: this.#startMs / 1000, step: 0, fileVersion: FILE_VERSION });
    // Write the version record now, so the file is a valid (empty) event file from the start.
    this.#flushInBackground();
    if (this.#options.flushIntervalMs > 0) {
      this.#timer = setInterval(() => this.#flushInBackground(), this.#options.flushIntervalMs);
      // The timer must not keep a finished training script alive.
      (this.#timer as { unref?: () => void }).unref?.();
    }
    trackOpenWriter(this.#saveQueueOnExit);
  }

  /** The sink's name: for the default sink, the path of the event file. */
  get path(): string {
    return this.#sink.name;
  }

  /** Logs a scalar. NaN and ±Infinity are written as they are, as TensorBoard allows. */
  scalar(tag: string, value: number, step: number): void {
    checkTag(tag, "scalar");
    if (typeof value !== "number") {
      throw new TensorBoardError(
        "invalid_value",
        `scalar "${tag}": expected a number, got ${describe(value)}`,
      );
    }
    this.#log(step, `scalar "${tag}"`, [{ tag, simpleValue: value }]);
  }

  /**
   * Logs a histogram of `values` (e.g. a layer's weights from `await kernel.data()`), bucketed
   * as TensorFlow does unless `options.bins` says otherwise. Values must be finite.
   */
  histogram(
    tag: string,
    values: ArrayLike<number>,
    step: number,
    options: HistogramOptions = {},
  ): void {
    checkTag(tag, "histogram");
    const what = `histogram "${tag}"`;
    checkStep(step, what); // before the O(n) work below
    if (
      values === null ||
      typeof values !== "object" ||
      typeof (values as ArrayLike<number>).length !== "number"
    ) {
      throw new TensorBoardError(
        "invalid_value",
        `${what}: expected an array or typed array of numbers, got ${describe(values)}`,
      );
    }
    if (values.length === 0) {
      throw new TensorBoardError("invalid_value", `${what}: expected at least one value, got 0`);
    }
    let bad = 0;
    let firstBad = -1;
    for (let i = 0; i < values.length; i++) {
      const x = values[i];
      if (typeof x !== "number" || !Number.isFinite(x)) {
        if (firstBad < 0) firstBad = i;
        bad++;
      }
    }
    if (bad > 0) {
      throw new TensorBoardError(
        "non_finite_histogram",
        `${what}: expected finite values, got ${String(values[firstBad])} at index ${firstBad} (${bad} of ${values.length} values are not finite; diverged training?)`,
      );
    }
    const bins = options.bins ?? "tensorflow";
    if (bins !== "tensorflow" && !(Number.isInteger(bins) && bins >= 1)) {
      throw new TensorBoardError(
        "invalid_option",
        `${what} options.bins: expected "tensorflow" or a positive integer, got ${String(bins)}`,
      );
    }
    this.#log(step, what, [{ tag, histo: buildHistogram(values, bins) }]);
  }

  /**
   * Logs an image: PNG bytes, raw 8-bit HWC pixels (`{ data, width, height, channels? }`,
   * PNG-encoded here), or anything with `toPNG()` such as a `@cnnkit/viz` picture.
   */
  image(tag: string, image: ImageInput, step: number): void {
    checkTag(tag, "image");
    const what = `image "${tag}"`;
    checkStep(step, what);
    this.#log(step, what, [{ tag, image: toSummaryImage(image, what) }]);
  }

  /** Logs markdown text (shown by TensorBoard's TEXT tab), e.g. a run's configuration. */
  text(tag: string, markdown: string, step: number): void {
    checkTag(tag, "text");
    if (typeof markdown !== "string") {
      throw new TensorBoardError(
        "invalid_value",
        `text "${tag}": expected a markdown string, got ${describe(markdown)}`,
      );
    }
    this.#log(step, `text "${tag}"`, [
      {
        tag,
        tensor: { dtype: DT_STRING, shape: [], stringVal: [new TextEncoder().encode(markdown)] },
        metadata: {
          pluginName: "text",
          pluginContent: TEXT_PLUGIN_CONTENT,
          dataClass: DATA_CLASS_TENSOR,
        },
      },
    ]);
  }

  /**
   * Records this run's hyperparameters and final metrics for TensorBoard's HPARAMS tab: a
   * session start (with `hparams`), each metric as a scalar, and a session end (with
   * `options.status`). TensorBoard lists every scalar tag of the run as a metric column, so
   * `metrics` may be empty when the values are already logged. Call it once per writer:
   * TensorBoard keeps the first session start and end of a run and ignores later ones.
   */
  hparams(
    hparams: Record<string, HParamValue>,
    metrics: Record<string, number> = {},
    options: HParamsOptions = {},
  ): void {
    if (this.#hparamsWritten) {
      throw new TensorBoardError(
        "hparams_already_written",
        `${this.#sink.name}: expected one hparams() call per run, got a second (TensorBoard would keep only the first session start and end; use a new logdir per run)`,
      );
    }
    if (hparams === null || typeof hparams !== "object" || Array.isArray(hparams)) {
      throw new TensorBoardError(
        "invalid_value",
        `hparams: expected an object of name → string | number | boolean, got ${describe(hparams)}`,
      );
    }
    for (const [name, value] of Object.entries(hparams)) {
      if (name === "") {
        throw new TensorBoardError("invalid_value", `hparams: expected non-empty names, got ""`);
      }
      const ok =
        typeof value === "string" ||
        typeof value === "boolean" ||
        (typeof value === "number" && Number.isFinite(value));
      if (!ok) {
        throw new TensorBoardError(
          "invalid_value",
          `hparams "${name}": expected a string, a finite number or a boolean, got ${describe(value)}`,
        );
      }
    }
    if (metrics === null || typeof metrics !== "object" || Array.isArray(metrics)) {
      throw new TensorBoardError(
        "invalid_value",
        `hparams metrics: expected an object of tag → number, got ${describe(metrics)}`,
      );
    }
    for (const [tag, value] of Object.entries(metrics)) {
      checkTag(tag, "hparams metric");
      if (typeof value !== "number") {
        throw new TensorBoardError(
          "invalid_value",
          `hparams metric "${tag}": expected a number, got ${describe(value)}`,
        );
      }
    }
    const status = options.status ?? "success";
    if (!Object.hasOwn(HPARAMS_STATUS, status)) {
      throw new TensorBoardError(
        "invalid_option",
        `hparams options.status: expected "success", "failure", "running" or "unknown", got ${JSON.stringify(status)}`,
      );
    }
    const step = options.step ?? this.#lastStep;
    checkStep(step, "hparams options.step");
    const startTimeSecs = (options.startTimeMs ?? this.#startMs) / 1000;

    this.#hparamsWritten = true;
    this.#log(0, "hparams", [
      hparamsValue(SESSION_START_TAG, {
        kind: "session_start_info",
        hparams,
        groupName: options.groupName ?? "",
        startTimeSecs,
      }),
    ]);
    for (const [tag, value] of Object.entries(metrics)) {
      this.#log(step, `hparams metric "${tag}"`, [{ tag, simpleValue: value }]);
    }
    this.#log(0, "hparams", [
      hparamsValue(SESSION_END_TAG, {
        kind: "session_end_info",
        status,
        endTimeSecs: this.#options.now() / 1000,
      }),
    ]);
  }

  /** Writes every queued event to the sink. Rejects if this or an earlier write failed. */
  flush(): Promise<void> {
    const run = this.#tail.then(() => this.#writePending());
    this.#tail = run.catch((cause: unknown) => {
      this.#failure ??= new TensorBoardError(
        "write_failed",
        `${this.#sink.name}: expected to write queued events, got ${(cause as Error)?.message ?? String(cause)}`,
        { cause },
      );
    });
    return this.#tail.then(() => {
      if (this.#failure) throw this.#failure;
    });
  }

  /** Flushes, then closes the sink. Idempotent; logging after `close()` throws. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    openWriters.delete(this.#saveQueueOnExit);
    try {
      await this.flush();
    } finally {
      await this.#sink.close?.();
    }
  }

  // Called from the process `exit` hook: saves the queue if the sink writes synchronously.
  readonly #saveQueueOnExit = (): void => {
    try {
      void this.#writePending();
    } catch {
      // The process is exiting; there is nobody left to report to.
    }
  };

  #flushInBackground(): void {
    // The failure is kept and rethrown by the next log call, flush() or close().
    this.flush().catch(() => {});
  }

  #log(step: number, what: string, values: TfSummaryValue[]): void {
    checkStep(step, what);
    this.#enqueue({ wallTime: this.#options.now() / 1000, step, summary: values });
    if (step > this.#lastStep) this.#lastStep = step;
    if (this.#pending.length >= this.#options.maxQueue) this.#flushInBackground();
  }

  #enqueue(event: TfEvent): void {
    if (this.#closing) {
      throw new TensorBoardError(
        "closed",
        `${this.#sink.name}: expected an open SummaryWriter, got one already closed`,
      );
    }
    if (this.#failure) throw this.#failure;
    this.#pending.push(encodeRecord(encodeEvent(event)));
  }

  #writePending(): void | Promise<void> {
    if (this.#pending.length === 0) return;
    const records = this.#pending;
    this.#pending = [];
    let length = 0;
    for (const r of records) length += r.length;
    const chunk = new Uint8Array(length);
    let offset = 0;
    for (const r of records) {
      chunk.set(r, offset);
      offset += r.length;
    }
    // One write per flush, of whole records: a crash can cut only the last of them short.
    return this.#sink.write(chunk);
  }
}

function hparamsValue(
  tag: string,
  data: Parameters<typeof encodeHParamsPluginData>[0],
): TfSummaryValue {
  return {
    tag,
    tensor: NULL_TENSOR,
    metadata: {
      pluginName: HPARAMS_PLUGIN,
      pluginContent: encodeHParamsPluginData(data),
      dataClass: DATA_CLASS_TENSOR,
    },
  };
}

function checkTag(tag: unknown, kind: string): asserts tag is string {
  if (typeof tag !== "string" || tag === "") {
    throw new TensorBoardError(
      "invalid_tag",
      `${kind}: expected a non-empty string tag such as "train/loss", got ${typeof tag === "string" ? '""' : describe(tag)}`,
    );
  }
  // Control characters (newlines included) break TensorBoard's tag filters and file listings.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point.
  if (/[\u0000-\u001f\u007f]/.test(tag)) {
    throw new TensorBoardError(
      "invalid_tag",
      `${kind} ${JSON.stringify(tag)}: expected a tag without control characters, got one`,
    );
  }
  if (tag.startsWith(RESERVED_TAG_PREFIX)) {
    throw new TensorBoardError(
      "invalid_tag",
      `${kind} "${tag}": expected a tag outside "${RESERVED_TAG_PREFIX}", which the HPARAMS plugin reserves`,
    );
  }
}

function checkStep(step: unknown, what: string): asserts step is number {
  if (typeof step !== "number" || !Number.isSafeInteger(step) || step < 0) {
    throw new TensorBoardError(
      "invalid_step",
      `${what}: expected a non-negative integer step, got ${typeof step === "number" ? step : describe(step)}`,
    );
  }
}
