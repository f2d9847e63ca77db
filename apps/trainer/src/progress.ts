// Progress of a training run: a live one-line bar on a TTY, plain periodic lines elsewhere (CI, logs).

export interface ProgressStep {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  accuracy: number;
  lr: number;
  imagesPerSecond: number;
}

export interface ProgressOptions {
  /** Where to write. Defaults to `process.stderr`. */
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Force the live bar on or off. Defaults to `stream.isTTY`. */
  live?: boolean;
  /** Without a TTY, print a line every this many steps (and at each epoch's end). Defaults to 20. */
  every?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** Renders training progress; `update` per step, `line` for messages, `done` at the end. */
export class Progress {
  private readonly stream: NonNullable<ProgressOptions["stream"]>;
  private readonly live: boolean;
  private readonly every: number;
  private readonly started = performance.now();
  private dirty = false;

  constructor(options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.live = options.live ?? Boolean(this.stream.isTTY);
    this.every = options.every ?? 20;
  }

  /** Seconds left, from the average time per step so far over the whole run. */
  eta(s: ProgressStep): number {
    const done = (s.epoch - 1) * s.stepsPerEpoch + s.step;
    const total = s.epochs * s.stepsPerEpoch;
    const elapsed = (performance.now() - this.started) / 1000;
    return done > 0 ? (elapsed / done) * (total - done) : Number.NaN;
  }

  format(s: ProgressStep, width = 100): string {
    const stats =
      `loss ${s.loss.toFixed(4)}  acc ${(s.accuracy * 100).toFixed(1)}%  ` +
      `lr ${s.lr.toExponential(2)}  ${s.imagesPerSecond.toFixed(1)} img/s  ETA ${formatDuration(this.eta(s))}`;
    const head = `epoch ${s.epoch}/${s.epochs} ${String(s.step).padStart(String(s.stepsPerEpoch).length)}/${s.stepsPerEpoch}`;
    if (!this.live) return `${head}  ${stats}`;
    const barWidth = Math.max(10, Math.min(30, width - head.length - stats.length - 6));
    const filled = Math.round((s.step / s.stepsPerEpoch) * barWidth);
    return `${head} [${"█".repeat(filled)}${"·".repeat(barWidth - filled)}] ${stats}`;
  }

  update(s: ProgressStep): void {
    if (this.live) {
      const columns = "columns" in this.stream && this.stream.columns ? this.stream.columns : 120;
      this.stream.write(`\r\x1b[2K${this.format(s, columns).slice(0, columns - 1)}`);
      this.dirty = true;
    } else if (s.step % this.every === 0 || s.step === s.stepsPerEpoch) {
      this.stream.write(`${this.format(s)}\n`);
    }
  }

  /** A message on its own line (the live bar is redrawn by the next update). */
  line(text: string): void {
    if (this.dirty) this.stream.write("\r\x1b[2K");
    this.dirty = false;
    this.stream.write(`${text}\n`);
  }

  done(): void {
    if (this.dirty) this.stream.write("\n");
    this.dirty = false;
  }
}
