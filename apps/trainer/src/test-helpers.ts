// Shared by the tests (not part of the app): the cpu backend with cnnkit's training kernels, and
// tiny synthetic CIFAR-shaped data a model can learn something from in a few steps.
import { join } from "node:path";
import { useBackend } from "@cnnkit/backends";
import { CIFAR10_CLASS_NAMES, type Cifar10Split, Rng } from "@cnnkit/cifar10";
import { loadArtifacts } from "@cnnkit/export";
import * as tf from "@tensorflow/tfjs-core";
import { resolveConfig, type TrainConfig } from "./config.js";
import type { RunData } from "./data.js";
import { Progress, type ProgressStep } from "./progress.js";

/** The cpu backend (deterministic, everywhere) with the fast convolution gradients registered. */
export async function useCpu(): Promise<void> {
  await useBackend("cpu", { trainingKernels: true });
}

/** `n` noisy 32×32 images whose mean colour depends on the class, labels cycling 0–9. */
export function syntheticSplit(n: number, seed: number): Cifar10Split {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * 3072);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 10;
    labels[i] = label;
    const base = [(label * 25) % 256, (label * 67) % 256, (label * 131) % 256];
    for (let p = 0; p < 1024; p++) {
      for (let c = 0; c < 3; c++) {
        const v = base[c]! + Math.floor(rng.next() * 60) - 30;
        images[i * 3072 + p * 3 + c] = Math.min(255, Math.max(0, v));
      }
    }
  }
  return { images, labels, length: n };
}

export function syntheticData(train = 24, test = 10): RunData {
  return {
    train: syntheticSplit(train, 1),
    test: syntheticSplit(test, 2),
    classNames: [...CIFAR10_CLASS_NAMES],
  };
}

/** A config small enough for the cpu backend: widths [4, 8, 16], batch 8, 2 epochs. */
export function tinyConfig(patch: Parameters<typeof resolveConfig>[1] = {}): TrainConfig {
  return resolveConfig("smoke", {
    widths: [4, 8, 16],
    batchSize: 8,
    epochs: 2,
    maxLr: 1e-2,
    trainSubset: null,
    testSubset: null,
    backend: "cpu",
    ...patch,
  });
}

/** Progress that keeps its lines (and can act on a given step, e.g. abort a run there). */
export class QuietProgress extends Progress {
  readonly lines: string[] = [];
  constructor(private readonly onStep?: (s: ProgressStep) => void) {
    super({ stream: { write: (s: string) => this.lines.push(s) }, live: false, every: 1000 });
  }
  override update(s: ProgressStep): void {
    super.update(s);
    this.onStep?.(s);
  }
}

/** The weights of a checkpoint directory's model.json, by name. */
export async function weightsOf(checkpointDir: string): Promise<Map<string, Float32Array>> {
  const artifacts = await loadArtifacts(join(checkpointDir, "model.json"));
  const named = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of Object.entries(named)) {
    out.set(name, (await t.data()) as Float32Array);
    t.dispose();
  }
  return out;
}
