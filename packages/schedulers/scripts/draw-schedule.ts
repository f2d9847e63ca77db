// Draws the README's pictures of OneCycleLR (through @cnnkit/viz) and prints its Markdown table.
//
// Run from packages/schedulers:  pnpm draw
// (= node --conditions=@cnnkit/source --import tsx scripts/draw-schedule.ts); it rewrites docs/*.svg.
import { writeFile } from "node:fs/promises";
import { lineChart, type Picture } from "@cnnkit/viz";
import { OneCycleLR, type OneCycleLROptions, sampleSchedule, scheduleTable } from "../src/index.js";

// A 10-epoch CIFAR-10 run: 50 000 images in batches of 128 is 391 steps per epoch.
const base: OneCycleLROptions = { maxLr: 0.4, epochs: 10, stepsPerEpoch: 391 };
const variants: [string, OneCycleLROptions][] = [
  ["cos (default)", base],
  ["linear", { ...base, annealStrategy: "linear" }],
  ["cos, three-phase", { ...base, threePhase: true }],
];
// The SVG gets a <title> (its alt text, which biome's a11y lint requires and screen readers read).
async function saveSvg(picture: Picture, title: string, path: string): Promise<void> {
  const svg = picture.toSVG().replace(/<svg([^>]*)>/, (open) => `${open}<title>${title}</title>`);
  await writeFile(path, svg);
}

const runs = variants.map(([name, options]) => ({
  name,
  samples: sampleSchedule(new OneCycleLR(options)),
}));

const lrTitle = "OneCycleLR, maxLr 0.4, 10 epochs × 391 steps";
await saveSvg(
  lineChart({
    title: lrTitle,
    xLabel: "optimizer step",
    yLabel: "learning rate",
    series: runs.map((r) => ({
      name: r.name,
      x: r.samples.map((s) => s.step),
      y: r.samples.map((s) => s.lr),
    })),
  }),
  `${lrTitle}: learning rate of the cos, linear and three-phase schedules`,
  "docs/one-cycle-lr.svg",
);
const momentumTitle = "OneCycleLR momentum (beta1), same runs";
await saveSvg(
  lineChart({
    title: momentumTitle,
    xLabel: "optimizer step",
    yLabel: "momentum / beta1",
    series: runs.map((r) => ({
      name: r.name,
      x: r.samples.map((s) => s.step),
      y: r.samples.map((s) => s.momentum ?? Number.NaN),
    })),
  }),
  `${momentumTitle}: momentum of the cos, linear and three-phase schedules`,
  "docs/one-cycle-momentum.svg",
);
process.stdout.write(scheduleTable(runs[0]!.samples));
process.stdout.write("wrote docs/one-cycle-lr.svg and docs/one-cycle-momentum.svg\n");
