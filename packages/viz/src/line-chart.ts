// Line charts: training curves (loss, accuracy, lr, momentum, gradient norms) over steps.
import {
  AXIS_COLOR,
  type Box,
  frame,
  LABEL_SIZE,
  makeScale,
  TICK_SIZE,
  title,
  titleHeight,
  yAxis,
  yTickLabelWidth,
} from "./axes.js";
import { CATEGORICAL_COLORS } from "./color.js";
import { VizError } from "./errors.js";
import { positiveInteger, show } from "./options.js";
import { type Picture, svgPicture } from "./picture.js";
import { escapeXml, n, svgDocument, svgText, textWidth } from "./svg.js";
import { extent, formatTick, linearTicks, logTicks } from "./ticks.js";

/** One curve. */
export interface LineSeries {
  /** Legend entry. */
  name: string;
  /** x of each point (steps, epochs). Defaults to 0, 1, 2, … */
  x?: number[];
  /** y of each point; NaN, ±Infinity (and values ≤ 0 on a log axis) leave a gap. */
  y: number[];
  /** Line colour (any CSS colour). Defaults to the next of `CATEGORICAL_COLORS`. */
  color?: string;
  /** Draw dashed (e.g. a validation curve beside its training curve). Defaults to false. */
  dashed?: boolean;
}

export interface LineChartOptions {
  /** The curves, drawn in order (the last on top). */
  series: LineSeries[];
  /** Title over the chart. Defaults to none. */
  title?: string;
  /** x axis label. Defaults to none. */
  xLabel?: string;
  /** y axis label. Defaults to the series name when there is only one series, else none. */
  yLabel?: string;
  /** Log10 y axis, for learning rates and losses over decades. Defaults to false. */
  logY?: boolean;
  /** Fixed y range, e.g. [0, 1] for accuracy. Defaults to the data range rounded out to ticks. */
  yRange?: [number, number];
  /**
   * TensorBoard-style smoothing weight in [0, 1): each series is drawn faint as recorded and
   * bold as a debiased exponential moving average with this weight (0.9 for per-step loss).
   * Defaults to 0 (no smoothing).
   */
  smoothing?: number;
  /** Picture width in px. Defaults to 640. */
  width?: number;
  /** Picture height in px. Defaults to 400. */
  height?: number;
}

interface ResolvedSeries {
  name: string;
  x: number[];
  y: number[];
  color: string;
  dashed: boolean;
}

interface ResolvedLineChartOptions {
  series: ResolvedSeries[];
  title: string | undefined;
  xLabel: string | undefined;
  yLabel: string | undefined;
  logY: boolean;
  yRange: [number, number] | undefined;
  smoothing: number;
  width: number;
  height: number;
}

function resolveLineChartOptions(options: LineChartOptions): ResolvedLineChartOptions {
  if (!options || !Array.isArray(options.series) || options.series.length === 0) {
    throw new VizError(
      "invalid_option",
      `lineChart options.series: expected a non-empty array of { name, y }, got ${show(options?.series)}`,
    );
  }
  const series = options.series.map((s, i): ResolvedSeries => {
    const where = `lineChart options.series[${i}]${typeof s?.name === "string" ? ` ("${s.name}")` : ""}`;
    if (!s || typeof s.name !== "string" || !isNumberArray(s.y)) {
      throw new VizError(
        "invalid_option",
        `${where}: expected { name: string, y: number[] }, got ${show(s)}`,
      );
    }
    if (s.x !== undefined) {
      if (!isNumberArray(s.x) || s.x.length !== s.y.length) {
        throw new VizError(
          "invalid_option",
          `${where}.x: expected ${s.y.length} numbers (one per y), got ${show(s.x)}`,
        );
      }
      const bad = s.x.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        throw new VizError(
          "invalid_option",
          `${where}.x[${bad}]: expected a finite number, got ${s.x[bad]}`,
        );
      }
    }
    return {
      name: s.name,
      x: Array.from(s.x ?? s.y.map((_, k) => k)),
      y: Array.from(s.y),
      color: s.color ?? CATEGORICAL_COLORS[i % CATEGORICAL_COLORS.length]!,
      dashed: s.dashed ?? false,
    };
  });
  const yRange = options.yRange;
  if (
    yRange !== undefined &&
    !(Array.isArray(yRange) && yRange.length === 2 && yRange[1] > yRange[0])
  ) {
    throw new VizError(
      "invalid_option",
      `lineChart options.yRange: expected [min, max] with max > min, got ${show(yRange)}`,
    );
  }
  const logY = options.logY ?? false;
  if (logY && yRange && yRange[0] <= 0) {
    throw new VizError(
      "invalid_option",
      `lineChart options.yRange: expected a positive min with logY, got ${yRange[0]}`,
    );
  }
  return {
    series,
    title: options.title,
    xLabel: options.xLabel,
    yLabel: options.yLabel ?? (series.length === 1 ? series[0]!.name : undefined),
    logY,
    yRange,
    smoothing: resolveSmoothing(options.smoothing),
    width: positiveInteger(options.width ?? 640, "lineChart options.width"),
    height: positiveInteger(options.height ?? 400, "lineChart options.height"),
  };
}

function resolveSmoothing(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== "number" || !(value >= 0 && value < 1)) {
    throw new VizError(
      "invalid_option",
      `lineChart options.smoothing: expected a number in [0, 1), got ${show(value)}`,
    );
  }
  return value;
}

/**
 * The exponential moving average TensorBoard draws, debiased so the first points are not
 * pulled towards zero; gaps (NaN) stay gaps and do not reset the average.
 */
export function smoothSeries(values: readonly number[], weight: number): number[] {
  let last = 0;
  let count = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    count++;
    return last / (1 - weight ** count);
  });
}

function isNumberArray(value: unknown): value is number[] {
  return (
    (Array.isArray(value) && value.every((v) => typeof v === "number")) ||
    value instanceof Float32Array ||
    value instanceof Float64Array
  );
}

/**
 * Draws one or more series over steps with ticks, grid and a legend. Series longer than the
 * plot is wide are thinned to min/max per pixel column, so a 50 000-step loss curve keeps its
 * spikes and the SVG stays small.
 */
export function lineChart(options: LineChartOptions): Picture {
  const o = resolveLineChartOptions(options);
  const usable = (v: number) => Number.isFinite(v) && (!o.logY || v > 0);
  const xExtent = extent(o.series.flatMap((s) => extent(s.x) ?? []));
  if (!xExtent) {
    throw new VizError(
      "invalid_option",
      `lineChart options.series: expected at least one point, got ${o.series.length} empty series (${o.series.map((s) => `"${s.name}"`).join(", ")})`,
    );
  }
  const yExtent = extent(o.series.flatMap((s) => extent(s.y, usable) ?? []));
  const xTicks = linearTicks(
    xExtent[0],
    xExtent[1],
    Math.max(2, Math.round(o.width / 110)),
    false,
    o.series.every((s) => s.x.every(Number.isInteger)),
  );
  let yTicks = !yExtent
    ? linearTicks(0, 1)
    : o.logY
      ? logTicks(yExtent[0], yExtent[1])
      : linearTicks(yExtent[0], yExtent[1], Math.max(2, Math.round(o.height / 70)));
  if (o.yRange) {
    const [lo, hi] = o.yRange;
    const t = o.logY
      ? logTicks(lo, hi)
      : linearTicks(lo, hi, Math.max(2, Math.round(o.height / 70)));
    yTicks = { ...t, min: lo, max: hi };
  }

  const legend = o.series.length > 1;
  const legendW = legend ? Math.max(...o.series.map((s) => textWidth(s.name, TICK_SIZE))) + 40 : 0;
  const left = 12 + (o.yLabel ? LABEL_SIZE + 10 : 0) + yTickLabelWidth(yTicks) + 8;
  const box: Box = {
    left,
    top: titleHeight(o.title) + 4,
    right: o.width - 16 - legendW,
    bottom: o.height - 24 - (o.xLabel ? LABEL_SIZE + 10 : 0),
  };
  if (box.right - box.left < 40 || box.bottom - box.top < 40) {
    throw new VizError(
      "invalid_option",
      `lineChart options.width/height: ${o.width}×${o.height} leaves no room to plot after labels and legend`,
    );
  }
  const x = makeScale(xTicks, box.left, box.right);
  const y = makeScale(yTicks, box.bottom, box.top, o.logY);

  const body: string[] = [...title(o.title, o.width)];
  body.push(...yAxis(box, y, o.yLabel, 12 + LABEL_SIZE / 2));
  for (const t of xTicks.ticks) {
    const px = x(t);
    body.push(
      `<line x1="${n(px)}" y1="${n(box.top)}" x2="${n(px)}" y2="${n(box.bottom)}" stroke="#f0f0f0"/>`,
    );
    body.push(
      `<line x1="${n(px)}" y1="${n(box.bottom)}" x2="${n(px)}" y2="${n(box.bottom + 4)}" stroke="${AXIS_COLOR}"/>`,
    );
    body.push(
      svgText(formatTick(t, xTicks.step), {
        x: px,
        y: box.bottom + 6 + TICK_SIZE,
        size: TICK_SIZE,
        anchor: "middle",
        fill: AXIS_COLOR,
      }),
    );
  }
  if (o.xLabel) {
    body.push(
      svgText(o.xLabel, {
        x: (box.left + box.right) / 2,
        y: o.height - 10,
        size: LABEL_SIZE,
        anchor: "middle",
        fill: "#222222",
      }),
    );
  }
  body.push(...frame(box));
  // The id is derived from the box, so two charts inlined in one HTML page only share an id
  // when their clip rectangles are identical anyway.
  const clipId = `plot-${[box.left, box.top, box.right, box.bottom].map((v) => Math.round(v)).join("-")}`;
  body.push(
    `<clipPath id="${clipId}"><rect x="${n(box.left)}" y="${n(box.top)}" width="${n(box.right - box.left)}" height="${n(box.bottom - box.top)}"/></clipPath>`,
  );
  const drawSeries = (s: ResolvedSeries, ys: number[], faint: boolean) => {
    const points: [number, number][][] = [[]];
    for (let k = 0; k < ys.length; k++) {
      const v = ys[k]!;
      if (usable(v)) points[points.length - 1]!.push([x(s.x[k]!), y(v)]);
      else if (points[points.length - 1]!.length > 0) points.push([]);
    }
    const runs = points.filter((run) => run.length > 0).map((run) => thin(run));
    const d = runs
      .map((run) => `M${run.map(([px, py]) => `${n(px)} ${n(py)}`).join("L")}`)
      .join("");
    const stroke = `stroke="${escapeXml(s.color)}"${faint ? ` stroke-opacity="0.25"` : ""}`;
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    const role = faint ? "data-raw" : "data-series";
    body.push(
      `<path d="${d}" fill="none" ${stroke} stroke-width="${faint ? 1.2 : 1.8}" stroke-linejoin="round"${dash} clip-path="url(#${clipId})" ${role}="${escapeXml(s.name)}"/>`,
    );
    if (faint) return;
    // Few points (per-epoch metrics) or isolated points get markers, or they would be invisible.
    const total = runs.reduce((sum, run) => sum + run.length, 0);
    for (const run of runs) {
      if (total > 40 && run.length > 1) continue;
      for (const [px, py] of run) {
        body.push(
          `<circle cx="${n(px)}" cy="${n(py)}" r="2.5" fill="${escapeXml(s.color)}" clip-path="url(#${clipId})"/>`,
        );
      }
    }
  };
  for (const s of o.series) {
    // Smoothing only helps curves with many points; a 10-epoch curve is drawn as recorded.
    if (o.smoothing > 0 && s.y.length > 40) {
      drawSeries(s, s.y, true);
      drawSeries(s, smoothSeries(s.y, o.smoothing), false);
    } else {
      drawSeries(s, s.y, false);
    }
  }
  if (legend) {
    const lx = box.right + 14;
    o.series.forEach((s, i) => {
      const ly = box.top + 8 + i * 18;
      const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
      body.push(
        `<line x1="${n(lx)}" y1="${n(ly)}" x2="${n(lx + 20)}" y2="${n(ly)}" stroke="${escapeXml(s.color)}" stroke-width="2.5"${dash}/>`,
      );
      body.push(
        svgText(s.name, {
          x: lx + 26,
          y: ly,
          size: TICK_SIZE,
          baseline: "middle",
          fill: "#222222",
        }),
      );
    });
  }
  return svgPicture(svgDocument(o.width, o.height, body), o.width, o.height);
}

/**
 * Keeps, per pixel column, the first, lowest, highest and last point in their original order:
 * the drawn polyline covers the same pixels as the full one, at ~4 points per column.
 */
function thin(run: [number, number][]): [number, number][] {
  if (run.length < 2000) return run;
  const out: [number, number][] = [];
  let column = Number.NaN;
  let bucket: [number, number][] = [];
  const flush = () => {
    if (bucket.length === 0) return;
    let lo = bucket[0]!;
    let hi = bucket[0]!;
    for (const p of bucket) {
      if (p[1] < lo[1]) lo = p;
      if (p[1] > hi[1]) hi = p;
    }
    const keep = new Set([bucket[0]!, lo, hi, bucket[bucket.length - 1]!]);
    out.push(...bucket.filter((p) => keep.has(p)));
    bucket = [];
  };
  for (const p of run) {
    const c = Math.floor(p[0]);
    if (c !== column) {
      flush();
      column = c;
    }
    bucket.push(p);
  }
  flush();
  return out;
}
