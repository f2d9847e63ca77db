// A per-layer summary with multiply-adds, which tfjs's model.summary() does not count.
import type { LayersModel } from "@tensorflow/tfjs-layers";

/** One layer's line of a {@link ModelSummary}. */
export interface LayerSummary {
  readonly name: string;
  /** The tfjs class, e.g. `"Conv2D"`, `"BatchNormalization"`. */
  readonly className: string;
  /** Output shape without the batch dimension, e.g. `[16, 16, 128]`. */
  readonly outputShape: readonly number[];
  /** All weights, trainable or not (BN moving statistics are non-trainable). */
  readonly params: number;
  readonly trainableParams: number;
  /** Multiply-adds per image of convolutions and dense layers; 0 for everything else. */
  readonly multiplyAdds: number;
}

/** What {@link summarize} returns: the rows, the totals and the printed table. */
export interface ModelSummary {
  readonly name: string;
  readonly layers: readonly LayerSummary[];
  readonly totalParams: number;
  readonly trainableParams: number;
  readonly nonTrainableParams: number;
  /** Multiply-adds per image (batch of 1), convolutions and dense layers only. */
  readonly multiplyAdds: number;
  /** The summary as a fixed-width text table, totals last. */
  readonly table: string;
}

const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

function withoutBatch(shape: readonly unknown[]): number[] {
  // Single-output layers report [null, ...dims]; for a list (an add's inputs) take the first.
  const s = (Array.isArray(shape[0]) ? shape[0] : shape) as (number | null)[];
  return s.slice(1).map((d) => d ?? 0);
}

function multiplyAdds(
  className: string,
  config: Record<string, unknown>,
  inShape: number[],
  outShape: number[],
) {
  switch (className) {
    case "Conv2D": {
      const k = config.kernelSize as number[];
      const groups = (config.groups as number | undefined) ?? 1;
      return (product(outShape) * product(k) * (inShape[inShape.length - 1] ?? 0)) / groups;
    }
    case "DepthwiseConv2D": {
      const k = config.kernelSize as number[];
      return product(outShape) * product(k);
    }
    case "Dense":
      return product(outShape) * (inShape[inShape.length - 1] ?? 0);
    default:
      // BN, ReLU, add and pooling are a few operations per element: negligible next to the
      // convs, and left out by the usual "multiply-adds" figures this is compared against.
      return 0;
  }
}

function inputShapeOf(input: { shape: unknown[] } | { shape: unknown[] }[]): unknown[] {
  return Array.isArray(input) ? (input[0]?.shape ?? []) : input.shape;
}

/** Per-layer output shape, parameters and multiply-adds of a model, with totals. */
export function summarize(model: LayersModel): ModelSummary {
  const rows: LayerSummary[] = model.layers.map((layer) => {
    const className = layer.getClassName();
    const outputShape = withoutBatch(layer.outputShape);
    const inputShape =
      className === "InputLayer" ? outputShape : withoutBatch(inputShapeOf(layer.input));
    const trainableParams = layer.trainableWeights.reduce(
      (a, w) => a + product(w.shape as number[]),
      0,
    );
    return {
      name: layer.name,
      className,
      outputShape,
      params: layer.countParams(),
      trainableParams,
      multiplyAdds: multiplyAdds(
        className,
        layer.getConfig() as Record<string, unknown>,
        inputShape,
        outputShape,
      ),
    };
  });
  const sum = (f: (r: LayerSummary) => number) => rows.reduce((a, r) => a + f(r), 0);
  const totalParams = sum((r) => r.params);
  const trainableParams = sum((r) => r.trainableParams);
  const macs = sum((r) => r.multiplyAdds);
  return {
    name: model.name,
    layers: rows,
    totalParams,
    trainableParams,
    nonTrainableParams: totalParams - trainableParams,
    multiplyAdds: macs,
    table: formatTable(model.name, rows, { totalParams, trainableParams, macs }),
  };
}

const fmt = (n: number) => n.toLocaleString("en-US");

function formatTable(
  name: string,
  rows: readonly LayerSummary[],
  t: { totalParams: number; trainableParams: number; macs: number },
): string {
  const header = ["layer", "type", "output shape", "params", "mult-adds"];
  const body = rows.map((r) => [
    r.name,
    r.className,
    `[${r.outputShape.join(", ")}]`,
    fmt(r.params),
    fmt(r.multiplyAdds),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const rule = "-".repeat(widths.reduce((a, w) => a + w, 0) + 2 * (widths.length - 1));
  return [
    `model: ${name}`,
    line(header),
    rule,
    ...body.map(line),
    rule,
    `total params: ${fmt(t.totalParams)} (trainable ${fmt(t.trainableParams)}, non-trainable ${fmt(t.totalParams - t.trainableParams)})`,
    `multiply-adds per image: ${fmt(t.macs)} (${(t.macs / 1e6).toFixed(1)} M)`,
  ].join("\n");
}
