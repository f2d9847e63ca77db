// The live training curves: @cnnkit/viz line charts, redrawn at most a few times a second, each
// with a text alternative that states the latest values.
import type { MetricsResult } from "@cnnkit/metrics";
import { type LineChartOptions, type LineSeries, lineChart } from "@cnnkit/viz";
import type { EpochReport, StepReport } from "./protocol.js";

/** A picture as an `<img>` source. */
export function svgSource(svg: string): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

export function percent(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** The history of one run, as the charts need it. */
export class Curves {
  readonly steps: number[] = [];
  readonly loss: number[] = [];
  readonly accuracy: number[] = [];
  readonly lr: number[] = [];
  readonly epochs: EpochReport[] = [];
  #pending = false;

  constructor(
    private readonly images: {
      loss: HTMLImageElement;
      accuracy: HTMLImageElement;
      lr: HTMLImageElement;
    },
  ) {}

  addStep(step: StepReport): void {
    this.steps.push(step.step);
    this.loss.push(step.loss);
    this.accuracy.push(step.accuracy);
    this.lr.push(step.lr);
    this.#schedule();
  }

  addEpoch(epoch: EpochReport): void {
    this.epochs.push(epoch);
    this.#schedule();
  }

  /** Redraws on the next animation frame, once however many steps arrived. */
  #schedule(): void {
    if (this.#pending) return;
    this.#pending = true;
    requestAnimationFrame(() => {
      this.#pending = false;
      this.draw();
    });
  }

  draw(): void {
    if (this.steps.length === 0) return;
    const last = this.steps.length - 1;
    const lastEpoch = this.epochs.at(-1);
    const testNote = (value: (e: EpochReport) => string) =>
      lastEpoch ? `; test after epoch ${lastEpoch.epoch}: ${value(lastEpoch)}` : "";
    const over = `over ${this.steps.length} steps`;
    this.#draw(
      this.images.loss,
      { title: "Loss" },
      this.#trainAndTest(this.loss, (e) => e.testLoss),
      `Loss curve ${over}: latest batch loss ${this.loss[last]!.toFixed(3)}${testNote((e) => e.testLoss.toFixed(3))}`,
    );
    this.#draw(
      this.images.accuracy,
      { title: "Accuracy", yRange: [0, 1] },
      this.#trainAndTest(this.accuracy, (e) => e.testAccuracy),
      `Accuracy curve ${over}: latest batch ${percent(this.accuracy[last]!)}${testNote((e) => percent(e.testAccuracy))}`,
    );
    this.#draw(
      this.images.lr,
      { title: "Learning rate", smoothing: 0 },
      [{ name: "lr", x: this.steps, y: this.lr }],
      `Learning-rate schedule so far: ${this.lr[last]!.toExponential(2)} at step ${this.steps[last]}`,
    );
  }

  /** A per-step training series, and the per-epoch test figure dashed beside it. */
  #trainAndTest(train: number[], test: (e: EpochReport) => number): LineSeries[] {
    const series: LineSeries[] = [{ name: "train (batch)", x: this.steps, y: train }];
    if (this.epochs.length > 0) {
      const x = this.epochs.map((e) => e.step);
      series.push({ name: "test", x, y: this.epochs.map(test), dashed: true });
    }
    return series;
  }

  #draw(
    image: HTMLImageElement,
    options: Partial<LineChartOptions>,
    series: LineSeries[],
    alt: string,
  ): void {
    // Batch figures are noisy: smoothed once there are enough of them (the raw curve stays faint).
    const smoothing = this.steps.length > 20 ? 0.6 : 0;
    const picture = lineChart({
      xLabel: "step",
      width: 420,
      height: 280,
      smoothing,
      ...options,
      series,
    });
    image.src = svgSource(picture.toSVG());
    image.alt = alt;
  }
}

/** A short spoken summary of a result, for the results heading. */
export function resultSummary(result: MetricsResult, steps: number, stoppedEarly: boolean): string {
  const best = [...result.perClass].sort((a, b) => b.recall - a.recall)[0]!;
  const worst = [...result.perClass].sort((a, b) => a.recall - b.recall)[0]!;
  const confused = result.mostConfused[0];
  return [
    `${stoppedEarly ? "Stopped" : "Trained"} after ${steps} steps: test accuracy ${percent(result.accuracy)} on ${result.examples} images (loss ${result.loss.toFixed(3)}).`,
    `Best class ${best.name} (${percent(best.recall)}), worst ${worst.name} (${percent(worst.recall)}).`,
    confused
      ? `Most confused: ${result.classNames[confused.trueClass]} taken for ${result.classNames[confused.predictedClass]} ${confused.count} times.`
      : "",
  ]
    .filter(Boolean)
    .join(" ");
}
