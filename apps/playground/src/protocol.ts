// The messages between the page and its training worker: the page asks, the worker (which owns
// tfjs, the data and the model) reports. Plain data only: they cross postMessage.
import type { MetricsResult } from "@cnnkit/metrics";
import type { Recipe } from "./presets.js";

/** What the page asks of the worker. */
export type Request =
  | { type: "load"; url: string }
  | { type: "load"; file: File }
  | { type: "preview"; recipe: Recipe }
  | { type: "train"; recipe: Recipe }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "stop" }
  /** Grad-CAM of test image `index`, or of 32×32 RGB `pixels` (an uploaded picture). */
  | { type: "explain"; index: number }
  | { type: "explain"; pixels: Uint8Array; name: string }
  | { type: "export" };

/** One training step's figures (running means over the epoch so far). */
export interface StepReport {
  /** Steps done, over the whole run. */
  step: number;
  totalSteps: number;
  epoch: number;
  epochs: number;
  /** This step's batch loss and accuracy. */
  loss: number;
  accuracy: number;
  lr: number;
  /** Training images per second so far (pauses excluded). */
  imagesPerSecond: number;
  /** Seconds of training left at the pace so far (evaluation excluded). */
  etaSeconds: number;
}

/** One epoch's figures, after it was evaluated on the test images. */
export interface EpochReport {
  epoch: number;
  step: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  seconds: number;
}

/** What the worker reports. */
export type Report =
  | {
      type: "backend";
      backend: string;
      reason: string;
      tried: { choice: string; ok: boolean; reason: string }[];
      isolated: boolean;
    }
  | { type: "load-progress"; read: number; total: number | null }
  | { type: "loaded"; train: number; test: number; bytes: number; seconds: number }
  | { type: "preview"; svg: string; summary: string }
  | { type: "state"; state: "training" | "paused" | "evaluating" | "done"; detail: string }
  | ({ type: "step" } & StepReport)
  | ({ type: "epoch" } & EpochReport)
  | {
      type: "results";
      result: MetricsResult;
      /** The most confident mistakes, the first-layer filters: SVG documents. */
      failuresSvg: string;
      filtersSvg: string;
      steps: number;
      stoppedEarly: boolean;
    }
  | {
      type: "explained";
      /** What was explained, in words ("test image 3", "cat.jpg"). */
      subject: string;
      /** The true class, for a test image. */
      label: string | null;
      predicted: string;
      probability: number;
      /** The image and the Grad-CAM overlay, 128×128 PNGs. */
      imagePng: Uint8Array;
      overlayPng: Uint8Array;
      layer: string;
    }
  | { type: "exported"; files: { name: string; bytes: Uint8Array }[] }
  | { type: "error"; during: string; message: string };
