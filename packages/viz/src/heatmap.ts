// Heatmaps with labelled axes, text in every cell and a colour bar: the confusion matrix.
import { AXIS_COLOR, LABEL_SIZE, TICK_SIZE, title, titleHeight } from "./axes.js";
import { type ColorScheme, hex, rgbAt, textColorOn } from "./color.js";
import { VizError } from "./errors.js";
import { show, stringArray } from "./options.js";
import { type Picture, svgPicture } from "./picture.js";
import { n, svgDocument, svgText, textWidth } from "./svg.js";
import { extent, formatNumber, formatTick, linearTicks } from "./ticks.js";

export interface HeatmapOptions {
  /** values[row][column]; NaN cells are drawn grey (e.g. a class with no samples). */
  values: number[][];
  /** One label per row, drawn on the left (for a confusion matrix: the true class). */
  rowLabels: string[];
  /** One label per column, drawn underneath (for a confusion matrix: the predicted class). */
  columnLabels: string[];
  /** Text in cell (r, c); "\n" starts a new line. Defaults to the value, 3 significant digits. */
  cellText?: (row: number, column: number) => string;
  /** Title over the heatmap. Defaults to none. */
  title?: string;
  /** Label under the column labels. Defaults to none. */
  xLabel?: string;
  /** Label left of the row labels. Defaults to none. */
  yLabel?: string;
  /** Value at the light end of the scale. Defaults to the smallest finite value. */
  min?: number;
  /** Value at the dark end of the scale. Defaults to the largest finite value. */
  max?: number;
  /** Colour scale. Defaults to `"blues"`. */
  scheme?: ColorScheme;
  /** Draw the colour bar on the right. Defaults to true. */
  colorBar?: boolean;
}

interface ResolvedHeatmapOptions {
  values: number[][];
  rowLabels: string[];
  columnLabels: string[];
  cellText: (row: number, column: number) => string;
  title: string | undefined;
  xLabel: string | undefined;
  yLabel: string | undefined;
  min: number;
  max: number;
  scheme: ColorScheme;
  colorBar: boolean;
}

const CELL_SIZE = 11;

function resolveHeatmapOptions(options: HeatmapOptions): ResolvedHeatmapOptions {
  const values = options?.values;
  if (!Array.isArray(values) || values.length === 0) {
    throw new VizError(
      "invalid_option",
      `heatmap options.values: expected a non-empty number[][], got ${show(values)}`,
    );
  }
  const rowLabels = stringArray(
    options.rowLabels,
    "heatmap options.rowLabels (one per row of values)",
    values.length,
  );
  const columns = options.columnLabels?.length;
  const columnLabels = stringArray(options.columnLabels, "heatmap options.columnLabels");
  values.forEach((row, r) => {
    if (!Array.isArray(row) || row.length !== columns) {
      throw new VizError(
        "invalid_option",
        `heatmap options.values[${r}]: expected ${columns} numbers (one per column label), got ${show(row)}`,
      );
    }
    const bad = row.findIndex((v) => typeof v !== "number");
    if (bad >= 0) {
      throw new VizError(
        "invalid_option",
        `heatmap options.values[${r}][${bad}]: expected a number, got ${show(row[bad])}`,
      );
    }
  });
  const range = extent(values.flat()) ?? [0, 1];
  const min = options.min ?? range[0];
  const max = options.max ?? range[1];
  if (!(Number.isFinite(min) && Number.isFinite(max) && max >= min)) {
    throw new VizError(
      "invalid_option",
      `heatmap options.min/max: expected finite min ≤ max, got ${min} and ${max}`,
    );
  }
  const cellText =
    options.cellText ??
    ((r: number, c: number) => {
      const v = values[r]![c]!;
      return Number.isFinite(v) ? formatNumber(v) : "";
    });
  return {
    values,
    rowLabels,
    columnLabels,
    cellText,
    title: options.title,
    xLabel: options.xLabel,
    yLabel: options.yLabel,
    min,
    max,
    scheme: options.scheme ?? "blues",
    colorBar: options.colorBar ?? true,
  };
}

/**
 * Draws a matrix of coloured cells, each with its text, row labels left, column labels below
 * (turned 45° when they are wider than a cell) and a colour bar mapping colours back to values.
 * Cell text is black or white, whichever reads better on that cell's colour.
 */
export function heatmap(options: HeatmapOptions): Picture {
  const o = resolveHeatmapOptions(options);
  const rows = o.values.length;
  const cols = o.columnLabels.length;
  const texts = o.values.map((row, r) => row.map((_, c) => String(o.cellText(r, c) ?? "")));
  const lines = Math.max(1, ...texts.flat().map((t) => t.split("\n").length));
  const textW = Math.max(
    0,
    ...texts
      .flat()
      .flatMap((t) => t.split("\n"))
      .map((l) => textWidth(l, CELL_SIZE)),
  );
  const cellW = Math.ceil(Math.max(30, textW + 10));
  const cellH = Math.ceil(Math.max(26, lines * 1.2 * CELL_SIZE + 10));

  const rowLabelW = Math.max(...o.rowLabels.map((l) => textWidth(l, TICK_SIZE)));
  const colLabelW = Math.max(...o.columnLabels.map((l) => textWidth(l, TICK_SIZE)));
  const rotate = colLabelW > cellW - 4;
  const colLabelH = rotate ? colLabelW * Math.SQRT1_2 + TICK_SIZE : TICK_SIZE + 4;
  const gridW = cols * cellW;
  const gridH = rows * cellH;
  // Turned column labels reach down-left of their column; long ones on the first columns
  // need the left margin to grow, or they would run off the picture.
  const turnedReach = rotate
    ? Math.max(
        ...o.columnLabels.map(
          (l, c) => 6 + textWidth(l, TICK_SIZE) * Math.SQRT1_2 - (c + 0.5) * cellW - 3,
        ),
      )
    : 0;
  const left = Math.max(12 + (o.yLabel ? LABEL_SIZE + 10 : 0) + rowLabelW + 8, turnedReach);
  const top = titleHeight(o.title) + 6;
  const barTicks = linearTicks(
    o.min,
    o.max === o.min ? o.min + 1 : o.max,
    Math.max(2, Math.round(gridH / 70)),
    false,
  );
  const barLabelW = Math.max(
    ...barTicks.ticks.map((t) => textWidth(formatTick(t, barTicks.step), TICK_SIZE)),
  );
  const barW = o.colorBar ? 20 + 14 + 6 + barLabelW : 0;
  const width = Math.ceil(
    Math.max(left + gridW + barW + 16, o.title ? textWidth(o.title, 15, true) + 24 : 0),
  );
  const height = Math.ceil(top + gridH + 6 + colLabelH + (o.xLabel ? LABEL_SIZE + 14 : 0) + 10);

  const body: string[] = [...title(o.title, width)];
  for (let r = 0; r < rows; r++) {
    const y = top + r * cellH;
    body.push(
      svgText(o.rowLabels[r]!, {
        x: left - 6,
        y: y + cellH / 2,
        size: TICK_SIZE,
        anchor: "end",
        baseline: "middle",
        fill: AXIS_COLOR,
      }),
    );
    for (let c = 0; c < cols; c++) {
      const x = left + c * cellW;
      const value = o.values[r]![c]!;
      const rgb = Number.isFinite(value)
        ? rgbAt(scaled(value, o.min, o.max), o.scheme)
        : [224, 224, 224];
      body.push(
        `<rect x="${n(x)}" y="${n(y)}" width="${cellW}" height="${cellH}" fill="${hex(rgb)}" shape-rendering="crispEdges"/>`,
      );
      const text = texts[r]![c]!;
      if (text) {
        body.push(
          svgText(text, {
            x: x + cellW / 2,
            y: y + cellH / 2,
            size: CELL_SIZE,
            anchor: "middle",
            baseline: "middle",
            fill: textColorOn(rgb),
          }),
        );
      }
    }
  }
  body.push(
    `<rect x="${n(left)}" y="${n(top)}" width="${gridW}" height="${gridH}" fill="none" stroke="${AXIS_COLOR}"/>`,
  );
  o.columnLabels.forEach((label, c) => {
    const cx = left + (c + 0.5) * cellW;
    body.push(
      rotate
        ? svgText(label, {
            x: cx + 3,
            y: top + gridH + 8,
            size: TICK_SIZE,
            anchor: "end",
            rotate: -45,
            fill: AXIS_COLOR,
          })
        : svgText(label, {
            x: cx,
            y: top + gridH + 6 + TICK_SIZE,
            size: TICK_SIZE,
            anchor: "middle",
            fill: AXIS_COLOR,
          }),
    );
  });
  if (o.xLabel) {
    body.push(
      svgText(o.xLabel, {
        x: left + gridW / 2,
        y: height - 12,
        size: LABEL_SIZE,
        anchor: "middle",
        fill: "#222222",
      }),
    );
  }
  if (o.yLabel) {
    body.push(
      svgText(o.yLabel, {
        x: 12 + LABEL_SIZE / 2,
        y: top + gridH / 2,
        size: LABEL_SIZE,
        anchor: "middle",
        rotate: -90,
        fill: "#222222",
      }),
    );
  }
  if (o.colorBar) body.push(...colorBar(left + gridW + 20, top, gridH, o, barTicks));
  return svgPicture(svgDocument(width, height, body), width, height);
}

function scaled(value: number, min: number, max: number): number {
  return max === min ? 0.5 : (value - min) / (max - min);
}

/** A vertical gradient from min (bottom) to max (top) with tick labels on its right. */
function colorBar(
  x: number,
  top: number,
  height: number,
  o: ResolvedHeatmapOptions,
  ticks: ReturnType<typeof linearTicks>,
): string[] {
  const id = `scale-${o.scheme}`;
  const stops = Array.from({ length: 11 }, (_, k) => {
    const t = k / 10;
    return `<stop offset="${n(t)}" stop-color="${hex(rgbAt(1 - t, o.scheme))}"/>`;
  });
  const out = [
    `<linearGradient id="${id}" x1="0" y1="0" x2="0" y2="1">${stops.join("")}</linearGradient>`,
    `<rect x="${n(x)}" y="${n(top)}" width="14" height="${n(height)}" fill="url(#${id})" stroke="${AXIS_COLOR}" stroke-width="0.5"/>`,
  ];
  for (const t of ticks.ticks) {
    if (o.max === o.min && t !== o.min) continue;
    const y = top + height * (1 - scaled(t, o.min, o.max));
    out.push(
      `<line x1="${n(x + 14)}" y1="${n(y)}" x2="${n(x + 18)}" y2="${n(y)}" stroke="${AXIS_COLOR}"/>`,
    );
    out.push(
      svgText(formatTick(t, ticks.step), {
        x: x + 21,
        y,
        size: TICK_SIZE,
        baseline: "middle",
        fill: AXIS_COLOR,
      }),
    );
  }
  return out;
}
