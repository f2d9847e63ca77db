// What the page can train: the trainer's `smoke` recipe (seconds, a few hundred images) and its
// `cpu` recipe (the fast recipe after airbench94, on all 50,000 images). The numbers are
// apps/trainer/src/config.ts's; the person may change the image counts and the epochs.

/** One training recipe, everything the worker needs to run it. */
export interface Recipe {
  preset: PresetName;
  model: "small-resnet" | "fast-resnet";
  widths: number[];
  epochs: number;
  batchSize: number;
  /** Training images used: the first N of the training split. */
  trainImages: number;
  /** Test images evaluated: the first N of the test split. */
  testImages: number;
  optimizer: "adamw" | "decoupled-sgd";
  maxLr: number;
  weightDecay: number;
  /** `one-cycle`: OneCycleLR (drives AdamW's beta1 too); `triangle`: the fast recipe's. */
  schedule: "one-cycle" | "triangle";
  pctStart: number;
  momentum: number;
  biasLrScale: number;
  labelSmoothing: number;
  gradClip: number | null;
  /** fast-resnet: the frozen whitening stem from the first 5,000 training images. */
  whitening: boolean;
  /** fast-resnet: epochs during which the whitening stem's bias trains. */
  whitenBiasEpochs: number;
  lookahead: boolean;
  augment: { padding: number; paddingMode: "zero" | "reflect"; alternateFlip: boolean };
  seed: number;
}

export const PRESET_NAMES = ["smoke", "cpu"] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export const PRESETS: Record<PresetName, Recipe> = {
  // The trainer's `smoke`: a tiny SmallResNet, AdamW under OneCycleLR, a few hundred images.
  smoke: {
    preset: "smoke",
    model: "small-resnet",
    widths: [8, 16, 32],
    epochs: 2,
    batchSize: 32,
    trainImages: 256,
    testImages: 128,
    optimizer: "adamw",
    maxLr: 3e-3,
    weightDecay: 1e-4,
    schedule: "one-cycle",
    pctStart: 0.3,
    momentum: 0.9,
    biasLrScale: 1,
    labelSmoothing: 0,
    gradClip: 1,
    whitening: false,
    whitenBiasEpochs: 0,
    lookahead: false,
    augment: { padding: 4, paddingMode: "zero", alternateFlip: false },
    seed: 0,
  },
  // The trainer's `cpu`: fastResNet with a whitening stem, decoupled Nesterov SGD, a triangular
  // schedule, label smoothing and lookahead (85.8% in 11 minutes on 2 cores in Node).
  cpu: {
    preset: "cpu",
    model: "fast-resnet",
    widths: [24, 96, 96],
    epochs: 4,
    batchSize: 1024,
    trainImages: 50_000,
    testImages: 10_000,
    optimizer: "decoupled-sgd",
    maxLr: 11.5,
    weightDecay: 0.0153,
    schedule: "triangle",
    pctStart: 0.23,
    momentum: 0.85,
    biasLrScale: 64,
    labelSmoothing: 0.2,
    gradClip: null,
    whitening: true,
    whitenBiasEpochs: 3,
    lookahead: true,
    augment: { padding: 2, paddingMode: "reflect", alternateFlip: true },
    seed: 0,
  },
};

/** What each preset is, for the page. */
export const PRESET_LABELS: Record<PresetName, string> = {
  smoke: "Smoke: SmallResNet 8-16-32, AdamW, 256 images × 2 epochs (seconds)",
  cpu: "CPU: the fast recipe, fastResNet 24-96-96 on all 50,000 images × 4 epochs (minutes)",
};
