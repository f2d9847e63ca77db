// The messages between the page and its training worker: the page asks, the worker (which owns
// tfjs, the data and the model) reports. Plain data only: they cross postMessage.
import type { MetricsResult } from "@cnnkit/metrics";
import type { Recipe } from "./presets.js";

/**
 * The backends a page may ask for (`?backend=` in its URL): `auto` (the default) takes the
 * fastest the browser has and never a software WebGPU adapter; `webgpu` takes WebGPU even on a
 * software adapter (SwiftShader: slow, for tests); `wasm` and `cpu` take those. The worker gets
 * the choice in its name (`backend=…`), which it can read before any message arrives.
 */
export const BACKEND_REQUESTS = ["auto", "webgpu", "wasm", "cpu"] as const;
export type BackendRequest = (typeof BACKEND_REQUESTS)[number];

/** The backend a worker name asks for (`auto` when it names none, or none of these). */
export function backendOfName(name: string): BackendRequest {
  const asked = /(?:^| )backend=(\S+)/.exec(name)?.[1] ?? "auto";
  return (BACKEND_REQUESTS as readonly string[]).includes(asked)
    ? (asked as BackendRequest)
    : "auto";
}

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
  /** The worker listens: requests posted before this may be lost, so the page holds them. */
  | { type: "ready" }
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
