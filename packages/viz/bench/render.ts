// How long drawing takes: SVG building and PNG rendering of each picture kind.
// Run from packages/viz: pnpm bench
import { barChart, heatmap, imageGrid, lineChart, type Picture } from "../src/index.js";

function time(label: string, make: () => Picture, runs = 5): void {
  const svgMs: number[] = [];
  const pngMs: number[] = [];
  let picture: Picture | undefined;
  let png: Uint8Array = new Uint8Array();
  for (let r = 0; r < runs; r++) {
    let t = performance.now();
    picture = make();
    const svg = picture.toSVG();
    svgMs.push(performance.now() - t);
    t = performance.now();
    png = picture.toPNG();
    pngMs.push(performance.now() - t);
    if (!svg) throw new Error("empty SVG");
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    `${label.padEnd(34)} ${picture!.width}×${picture!.height}  svg ${median(svgMs).toFixed(1).padStart(7)} ms  png ${median(pngMs).toFixed(1).padStart(7)} ms  (${(picture!.toSVG().length / 1024).toFixed(0)} KiB svg, ${(png.length / 1024).toFixed(0)} KiB png)`,
  );
}

const images = Array.from({ length: 64 }, (_, k) => {
  const data = new Uint8Array(32 * 32 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + k * 13) % 256;
  return { data, width: 32, height: 32 };
});
const classes = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];

console.log(`@cnnkit/viz bench (node ${process.version}, median of 5)\n`);
time("imageGrid 64 × 32×32, captions", () =>
  imageGrid({
    images,
    captions: images.map((_, k) => `${classes[k % 10]}\n→ cat 0.93`),
    borders: images.map(() => "#1a9850"),
  }),
);
time("heatmap 10×10 confusion matrix", () =>
  heatmap({
    values: classes.map((_, r) => classes.map((_, c) => (r === c ? 0.9 : 0.01))),
    rowLabels: classes,
    columnLabels: classes,
  }),
);
time("lineChart 2 series × 50 000 steps", () =>
  lineChart({
    series: [
      {
        name: "train loss",
        y: Array.from({ length: 50_000 }, (_, i) => 2 * Math.exp(-i / 9000) + Math.sin(i)),
      },
      { name: "lr", y: Array.from({ length: 50_000 }, (_, i) => Math.sin(i / 8000) + 1) },
    ],
  }),
);
time("barChart 10 bars", () =>
  barChart({ labels: classes, values: classes.map((_, i) => i / 10) }),
);
console.log("\ncommand: cd packages/viz && pnpm bench");
