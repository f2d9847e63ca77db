// Every distinct convolution of the cnnkit ResNets (SmallResNet and its narrow variant,
// ResNet-20/32/56, ResNet-18, and the fast recipe's fastResNet at the trainer's preset widths),
// for correctness checks and kernel benchmarks.

export interface ConvShape {
  readonly name: string;
  /** NHWC input shape. */
  readonly inputShape: [number, number, number, number];
  /** [kh, kw, inChannels, outChannels]. */
  readonly filterShape: [number, number, number, number];
  readonly stride: number;
  readonly pad: "same" | "valid";
}

/** Stage widths of each family; each stage after the first halves the 32x32 input. */
const FAMILIES: Record<string, readonly number[]> = {
  "tiny (8/16/32: the trainer's smoke preset)": [8, 16, 32],
  "narrow (16/32/64: ResNet-20/32/56, SmallResNet narrow)": [16, 32, 64],
  "SmallResNet (64/128/256)": [64, 128, 256],
  "ResNet-18 (64/128/256/512)": [64, 128, 256, 512],
};

/**
 * Group widths of fastResNet at the trainer's presets: cpu, cpu-long, the default (airbench94's)
 * and full (apps/trainer/src/config.ts).
 */
const FAST_FAMILIES: readonly (readonly number[])[] = [
  [24, 96, 96],
  [32, 128, 128],
  [64, 256, 256],
  [128, 384, 384],
];

export function resnetConvShapes(batch: number): ConvShape[] {
  const byKey = new Map<string, ConvShape>();
  const add = (
    size: number,
    k: number,
    cin: number,
    cout: number,
    stride: number,
    pad: "same" | "valid",
  ) => {
    const name = `${k}x${k} s${stride} ${pad} ${cin}->${cout} @${size}x${size}`;
    byKey.set(name, {
      name,
      inputShape: [batch, size, size, cin],
      filterShape: [k, k, cin, cout],
      stride,
      pad,
    });
  };
  for (const widths of Object.values(FAMILIES)) {
    add(32, 3, 3, widths[0] as number, 1, "same");
    widths.forEach((w, s) => {
      const size = 32 >> s;
      add(size, 3, w, w, 1, "same");
      if (s > 0) {
        const prev = widths[s - 1] as number;
        add(size * 2, 3, prev, w, 2, "same");
        // @cnnkit/resnet pads 1 pixel explicitly and convolves 'valid', as PyTorch's padding=1.
        add(size * 2 + 2, 3, prev, w, 2, "valid");
        add(size * 2, 1, prev, w, 2, "same");
        add(size * 2, 1, prev, w, 2, "valid");
      }
    });
  }
  // fastResNet downsamples by MaxPool after each group's first conv, so its convs are all
  // stride 1: the whitening stem (2x2 'valid', 3 -> 24 channels, 32 -> 31), then in each group a
  // 3x3 conv from the previous width at the group's input size (31, 15, 7) and, after the 2x2
  // MaxPool, one at the group's width at half that size (15, 7, 3).
  add(32, 2, 3, 24, 1, "valid");
  for (const widths of FAST_FAMILIES) {
    let size = 31;
    let cin = 24;
    for (const w of widths) {
      add(size, 3, cin, w, 1, "same");
      size = Math.floor(size / 2);
      add(size, 3, w, w, 1, "same");
      cin = w;
    }
  }
  return [...byKey.values()];
}
