// Bar charts: one value per label, e.g. per-class accuracy.
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
import { positiveInteger, show, stringArray } from "./options.js";
import { type Picture, svgPicture } from "./picture.js";
import { escapeXml, n, svgDocument, svgText, textWidth } from "./svg.js";
import { formatNumber, linearTicks } from "./ticks.js";

export interface BarChartOptions {
  /** One label per bar, drawn under it (rotated when they do not fit side by side). */
  labels: string[];
  /** One value per bar; negative values hang below zero. */
  values: number[];
  /** Title over the chart. Defaults to none. */
  title?: string;
  /** y axis label. Defaults to none. */
  yLabel?: string;
  /** Fixed y range, e.g. [0, 1] for accuracy. Defaults to the data range (with 0) rounded out to ticks. */
  yRange?: [number, number];
  /** Text over each bar. Defaults to the value with 3 significant digits. */
  valueText?: (value: number, index: number) => string;
  /** One colour for every bar, or one per bar. Defaults to `CATEGORICAL_COLORS[0]`. */
  colors?: string | string[];
  /** Picture width in px. Defaults to max(360, 56 px per bar + margins). */
  width?: number;
  /** Picture height in px. Defaults to 360. */
  height?: number;
}

interface ResolvedBarChartOptions {
  labels: string[];
  values: number[];
  title: string | undefined;
  yLabel: string | undefined;
  yRange: [number, number] | undefined;
  valueText: (value: number, index: number) => string;
  colors: string[];
  width: number;
  height: number;
}

function resolveBarChartOptions(options: BarChartOptions): ResolvedBarChartOptions {
  const labels = stringArray(options?.labels, "barChart options.labels");
  if (labels.length === 0) {
    throw new VizError(
      "invalid_option",
      "barChart options.labels: expected at least one label, got 0",
    );
  }
  const values = options.values;
  if (!Array.isArray(values) || values.length !== labels.length) {
    throw new VizError(
      "invalid_option",
      `barChart options.values: expected ${labels.length} numbers (one per label), got ${show(values)}`,
    );
  }
  const bad = values.findIndex((v) => typeof v !== "number" || !Number.isFinite(v));
  if (bad >= 0) {
    throw new VizError(
      "invalid_option",
      `barChart options.values[${bad}] ("${labels[bad]}"): expected a finite number, got ${show(values[bad])}`,
    );
  }
  const yRange = options.yRange;
  if (
    yRange !== undefined &&
    !(Array.isArray(yRange) && yRange.length === 2 && yRange[1] > yRange[0])
  ) {
    throw new VizError(
      "invalid_option",
      `barChart options.yRange: expected [min, max] with max > min, got ${show(yRange)}`,
    );
  }
  const colorOption = options.colors ?? CATEGORICAL_COLORS[0]!;
  const colors = typeof colorOption === "string" ? labels.map(() => colorOption) : colorOption;
  if (!Array.isArray(colors) || colors.length !== labels.length) {
    throw new VizError(
      "invalid_option",
      `barChart options.colors: expected a colour or ${labels.length} colours, got ${show(colorOption)}`,
    );
  }
  return {
    labels,
    values,
    title: options.title,
    yLabel: options.yLabel,
    yRange,
    valueText: options.valueText ?? ((v) => formatNumber(v)),
    colors,
    width: positiveInteger(
      options.width ?? Math.max(360, 56 * labels.length + 100),
      "barChart options.width",
    ),
    height: positiveInteger(options.height ?? 360, "barChart options.height"),
  };
}

/** Draws one bar per label from zero, with its value written over it. */
export function barChart(options: BarChartOptions): Picture {
  const o = resolveBarChartOptions(options);
  const lo = Math.min(0, ...o.values);
  const hi = Math.max(0, ...o.values);
  const target = Math.max(2, Math.round(o.height / 70));
  let yTicks = linearTicks(lo, hi, target);
  if (o.yRange)
    yTicks = {
      ...linearTicks(o.yRange[0], o.yRange[1], target),
      min: o.yRange[0],
      max: o.yRange[1],
    };

  const labelWidths = o.labels.map((l) => textWidth(l, TICK_SIZE));
  const labelW = Math.max(...labelWidths);
  const right = o.width - 16;
  let left = 12 + (o.yLabel ? LABEL_SIZE + 10 : 0) + yTickLabelWidth(yTicks) + 8;
  let band = (right - left) / o.labels.length;
  // Labels that would collide side by side are turned 40°; the margin below grows to fit them.
  const rotate = labelW > band - 6;
  if (rotate) {
    // A turned label reaches down-left of its bar; widen the left margin so the first ones fit.
    const cos = Math.cos((40 * Math.PI) / 180);
    for (let pass = 0; pass < 2; pass++) {
      const reach = Math.max(...labelWidths.map((w, i) => 6 + w * cos - band * (i + 0.5) - 4));
      left = Math.max(left, reach);
      band = (right - left) / o.labels.length;
    }
  }
  const labelH = rotate ? labelW * Math.sin((40 * Math.PI) / 180) + TICK_SIZE : TICK_SIZE + 4;
  const box: Box = {
    left,
    top: titleHeight(o.title) + 8 + TICK_SIZE,
    right,
    bottom: o.height - 12 - labelH,
  };
  if (box.bottom - box.top < 40 || band < 4) {
    throw new VizError(
      "invalid_option",
      `barChart options.width/height: ${o.width}×${o.height} leaves no room for ${o.labels.length} bars after labels`,
    );
  }
  const y = makeScale(yTicks, box.bottom, box.top);
  const clamp = (py: number) => Math.min(box.bottom, Math.max(box.top, py));
  const zero = clamp(y(0));

  const body: string[] = [...title(o.title, o.width)];
  body.push(...yAxis(box, y, o.yLabel, 12 + LABEL_SIZE / 2));
  o.labels.forEach((label, i) => {
    const value = o.values[i]!;
    const cx = box.left + band * (i + 0.5);
    const bw = Math.max(2, band * 0.7);
    const top = clamp(y(value));
    const barY = Math.min(top, zero);
    const barH = Math.abs(zero - top);
    body.push(
      `<rect x="${n(cx - bw / 2)}" y="${n(barY)}" width="${n(bw)}" height="${n(barH)}" fill="${escapeXml(o.colors[i]!)}" shape-rendering="crispEdges" data-label="${escapeXml(label)}"/>`,
    );
    const text = o.valueText(value, i);
    if (text) {
      const above = value >= 0;
      body.push(
        svgText(text, {
          x: cx,
          y: above ? barY - 4 : barY + barH + 4 + TICK_SIZE,
          size: textWidth(text, TICK_SIZE) > band ? TICK_SIZE * 0.8 : TICK_SIZE,
          anchor: "middle",
          fill: "#222222",
          halo: true,
        }),
      );
    }
    body.push(
      rotate
        ? svgText(label, {
            x: cx + 4,
            y: box.bottom + 10,
            size: TICK_SIZE,
            anchor: "end",
            rotate: -40,
            fill: AXIS_COLOR,
          })
        : svgText(label, {
            x: cx,
            y: box.bottom + 6 + TICK_SIZE,
            size: TICK_SIZE,
            anchor: "middle",
            fill: AXIS_COLOR,
          }),
    );
  });
  body.push(...frame(box));
  if (lo < 0 && zero > box.top && zero < box.bottom) {
    body.push(
      `<line x1="${n(box.left)}" y1="${n(zero)}" x2="${n(box.right)}" y2="${n(zero)}" stroke="${AXIS_COLOR}"/>`,
    );
  }
  return svgPicture(svgDocument(o.width, o.height, body), o.width, o.height);
}
