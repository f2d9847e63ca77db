// Calibration: does a 90%-confident prediction turn out right 90% of the time? Confidences
// (the top softmax probability) are binned into equal-width bins; the expected calibration
// error (ECE) is the support-weighted gap between accuracy and mean confidence per bin.
import { MetricsError } from "./errors.js";

/** One reliability bin, covering confidences in `(lower, upper]`. */
export interface ReliabilityBin {
  lower: number;
  upper: number;
  /** Predictions whose confidence fell in this bin. */
  count: number;
  /** Share of them that were right; 0 for an empty bin. */
  accuracy: number;
  /** Their mean confidence; 0 for an empty bin. */
  confidence: number;
}

/** Calibration summary of a set of predictions. */
export interface CalibrationResult {
  /** Expected calibration error: Σ (count/N)·|accuracy − confidence| over bins. */
  ece: number;
  /** Maximum calibration error: the largest |accuracy − confidence| of a non-empty bin. */
  mce: number;
  /** Mean top-1 confidence over all predictions. */
  meanConfidence: number;
  bins: ReliabilityBin[];
}

/** Streaming per-bin sums; internal to the accumulator. */
export class CalibrationBins {
  readonly numBins: number;
  readonly counts: Float64Array;
  readonly correct: Float64Array;
  readonly confidenceSums: Float64Array;

  constructor(numBins: number) {
    if (!Number.isInteger(numBins) || numBins < 1) {
      throw new MetricsError(
        "invalid_option",
        `calibrationBins: expected a positive integer, got ${numBins}`,
      );
    }
    this.numBins = numBins;
    this.counts = new Float64Array(numBins);
    this.correct = new Float64Array(numBins);
    this.confidenceSums = new Float64Array(numBins);
  }

  add(confidence: number, isCorrect: boolean): void {
    // Bins are (lower, upper] as in Guo et al. 2017; confidence is ≥ 1/K > 0, so bin 0's
    // open lower edge at 0 never excludes a real prediction.
    const bin = Math.min(this.numBins - 1, Math.max(0, Math.ceil(confidence * this.numBins) - 1));
    this.counts[bin]! += 1;
    if (isCorrect) this.correct[bin]! += 1;
    this.confidenceSums[bin]! += confidence;
  }

  merge(other: CalibrationBins): void {
    for (let b = 0; b < this.numBins; b++) {
      this.counts[b]! += other.counts[b]!;
      this.correct[b]! += other.correct[b]!;
      this.confidenceSums[b]! += other.confidenceSums[b]!;
    }
  }

  reset(): void {
    this.counts.fill(0);
    this.correct.fill(0);
    this.confidenceSums.fill(0);
  }

  result(): CalibrationResult {
    let total = 0;
    let confidenceTotal = 0;
    for (let b = 0; b < this.numBins; b++) {
      total += this.counts[b]!;
      confidenceTotal += this.confidenceSums[b]!;
    }
    let ece = 0;
    let mce = 0;
    const bins: ReliabilityBin[] = [];
    for (let b = 0; b < this.numBins; b++) {
      const count = this.counts[b]!;
      const accuracy = count > 0 ? this.correct[b]! / count : 0;
      const confidence = count > 0 ? this.confidenceSums[b]! / count : 0;
      if (count > 0) {
        const gap = Math.abs(accuracy - confidence);
        ece += (count / total) * gap;
        mce = Math.max(mce, gap);
      }
      bins.push({
        lower: b / this.numBins,
        upper: (b + 1) / this.numBins,
        count,
        accuracy,
        confidence,
      });
    }
    return { ece, mce, meanConfidence: total > 0 ? confidenceTotal / total : 0, bins };
  }
}
