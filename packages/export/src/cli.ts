#!/usr/bin/env node
// cnnkit-predict: classify PNG/JPEG files with an export made by exportModel.
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { ExportError } from "./errors.js";
import type { ArtifactName } from "./manifest.js";
import { predict } from "./predict.js";

const USAGE = `usage: cnnkit-predict <model-dir> <image.png|image.jpg>… [--top K] [--json] [--artifact tfjs|tfjs-float16|tfjs-uint8|onnx]

Prints the top-K classes with probabilities for each image, preprocessed as the export's
manifest.json says. --json prints one JSON array instead.`;

/** The fastest tfjs backend installed: tfjs-node when present, else the pure-JS cpu backend. */
async function pickBackend(): Promise<void> {
  for (const [name, mod] of [
    ["tensorflow", "@tensorflow/tfjs-node"],
    ["cpu", "@tensorflow/tfjs-backend-cpu"],
  ] as const) {
    try {
      await import(mod);
      if (await tf.setBackend(name)) return;
    } catch {
      // not installed: try the next one
    }
  }
  throw new ExportError(
    "backend_missing",
    "cnnkit-predict needs a tfjs backend: install @tensorflow/tfjs-backend-cpu (or @tensorflow/tfjs-node)",
  );
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<
    typeof parseArgs<{
      options: {
        top: { type: "string" };
        json: { type: "boolean" };
        artifact: { type: "string" };
        help: { type: "boolean"; short: "h" };
      };
      allowPositionals: true;
    }>
  >;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        top: { type: "string" },
        json: { type: "boolean" },
        artifact: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
    });
  } catch (err) {
    process.stderr.write(`cnnkit-predict: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [dir, ...images] = positionals;
  if (!dir || images.length === 0) {
    process.stderr.write(
      `cnnkit-predict: expected a model directory and at least one image\n${USAGE}\n`,
    );
    return 2;
  }
  const topK = values.top === undefined ? undefined : Number(values.top);
  try {
    const artifact = (values.artifact ?? "tfjs") as ArtifactName;
    if (artifact !== "onnx") await pickBackend();
    const results = await predict(dir, images, {
      ...(topK === undefined ? {} : { topK }),
      artifact,
    });
    if (values.json) {
      const plain = results.map((r) => ({
        source: r.source,
        top: r.top,
        logits: Array.from(r.logits),
      }));
      process.stdout.write(`${JSON.stringify(plain, null, 2)}\n`);
    } else {
      for (const r of results) {
        process.stdout.write(`${r.source}\n`);
        for (const t of r.top)
          process.stdout.write(
            `  ${(t.probability * 100).toFixed(1).padStart(5)}%  ${t.className}\n`,
          );
      }
    }
    return 0;
  } catch (err) {
    process.stderr.write(`cnnkit-predict: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
