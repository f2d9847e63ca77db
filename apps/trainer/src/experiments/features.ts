import { featureMaps, gradCamGallery } from "@cnnkit/explain";
import type { Mistake } from "@cnnkit/metrics";
import { loadInferenceWeights } from "../checkpoint.js";
import { readRunConfig } from "../commands/run-config.js";
import { normalizeStats, testBatches } from "../data.js";
import { TrainerError } from "../errors.js";
import { evaluate } from "../evaluate.js";
import { buildModel } from "../model.js";
import { runPaths } from "../run-dir.js";
import { type ExperimentContext, runArm } from "./arm.js";
import { filterPanel } from "./filter-panel.js";
import { armConfig } from "./options.js";
import {
  type ExperimentResult,
  experimentFolder,
  num,
  pct,
  table,
  tensorboardHint,
  writeSummary,
} from "./summary.js";

/** How many mistakes the Grad-CAM gallery shows. */
const MISTAKES = 8;

export async function featuresExperiment(ctx: ExperimentContext): Promise<ExperimentResult> {
  const { dir, pictures, save } = await experimentFolder(ctx.options.out, "features");
  let runDir: string;
  let source: string;
  if (ctx.options.run) {
    runDir = ctx.options.run;
    source = `the trained run \`${runDir}\``;
  } else {
    const arm = await runArm(ctx, "features", "model", armConfig(ctx.options, {}));
    runDir = arm.runDir;
    source = `a model trained here for ${arm.result.globalStep} steps (\`${runDir}\`)`;
  }
  const config = await readRunConfig(runDir);
  // Where the data is may differ from where the run was trained (another machine): flags win.
  const { dataDir, dataUrl } = ctx.options.patch;
  const { test, classNames } = await ctx.data.forConfig({
    ...config,
    dataDir: dataDir ?? config.dataDir,
    dataUrl: dataUrl ?? config.dataUrl,
  });
  const image = ctx.options.image;
  if (image >= test.length) {
    throw new TrainerError(
      "config_invalid",
      `image: expected a test image index below ${test.length} (the run's test images), got ${image}`,
    );
  }
  const stats = normalizeStats(config) || { mean: [0, 0, 0], std: [1, 1, 1] };
  const model = buildModel(config, classNames.length);
  try {
    const { ema } = await loadInferenceWeights(runPaths(runDir).best, model);
    const result = await evaluate(model, testBatches(test, config), classNames);
    await save("filters.png", filterPanel(model));

    // The chosen image, normalised exactly as in training.
    const pixels = new Float32Array(3072);
    for (let i = 0; i < 3072; i++) {
      const ch = i % 3;
      pixels[i] = (test.images[image * 3072 + i]! / 255 - stats.mean[ch]!) / stats.std[ch]!;
    }
    const maps = featureMaps(model, pixels);
    for (const m of maps) await save(`features-${m.layer}.png`, m.picture);

    const worst: Mistake[] = result.perClass
      .flatMap((c) => c.worstMistakes)
      .sort((a, b) => b.confidence - a.confidence)
      .slice(0, MISTAKES);
    await save(
      "grad-cam-mistakes.png",
      gradCamGallery(model, test, worst.length > 0 ? worst.map((m) => m.index) : [image], {
        classNames,
        normalize: stats,
        ...(worst.length > 0 ? { predictions: worst.map((m) => m.predictedClass) } : {}),
        title:
          worst.length > 0
            ? `Grad-CAM (predicted class) on the ${worst.length} most confident mistakes`
            : "Grad-CAM (predicted class): no mistakes on these test images",
      }),
    );

    const label = classNames[test.labels[image]!] ?? String(test.labels[image]);
    const numbers: Record<string, number | null> = {
      testAccuracy: result.accuracy,
      mistakesShown: worst.length,
      image,
      filters: model.getLayer("stem_conv").getWeights()[0]?.shape.at(-1) ?? null,
    };
    for (const m of maps) numbers[`${m.layer}.strongestChannelMean`] = m.strength[0] ?? null;
    const markdown = `# What the network sees

From ${source}${ema ? " (its EMA weights)" : ""}: ${config.model} [${config.widths.join(", ")}], ${pct(result.accuracy)} on ${test.length} test images.

- \`filters.png\`: the ${numbers.filters} first-layer (\`stem_conv\`) filters: each one's colour composite (scaled to its own range), then its weights on the red, green and blue input channels (red positive, blue negative). A trained filter shows structure — a red/blue split is an edge detector, channels of opposite sign a colour-opponent one; filters that still look like noise had too little training.
- \`features-<layer>.png\`: the 8 strongest channels of each stage for test image ${image} (a ${label}), on one scale per stage:

${table(
  ["layer", "shape", "strongest channels (mean activation)"],
  maps.map((m) => [
    m.layer,
    m.shape.join("×"),
    m.channels.map((c, i) => `${c} (${num(m.strength[i])})`).join(", "),
  ]),
)}

- \`grad-cam-mistakes.png\`: ${
      worst.length > 0
        ? `Grad-CAM of the predicted class on the last stage, over the ${worst.length} most confident mistakes (from \`@cnnkit/metrics\`' worst mistakes per class):`
        : "the model made no mistakes on these test images, so the gallery shows the chosen image."
    }

${
  worst.length > 0
    ? table(
        ["test index", "true", "predicted", "confidence", "p(true)"],
        worst.map((m) => [
          String(m.index),
          classNames[m.trueClass] ?? String(m.trueClass),
          classNames[m.predictedClass] ?? String(m.predictedClass),
          pct(m.confidence),
          pct(m.trueClassProbability),
        ]),
      )
    : ""
}

${ctx.options.run ? "" : tensorboardHint(dir)}
`;
    const summary = await writeSummary(dir, markdown, numbers);
    return { experiment: "features", dir, summary, pictures, numbers };
  } finally {
    model.dispose();
  }
}
