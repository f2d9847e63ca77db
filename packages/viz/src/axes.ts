// The frame shared by line and bar charts: title, plot box, grid, ticks and axis labels.
import { n, svgText, textWidth } from "./svg.js";
import { formatTick, type LinearTicks } from "./ticks.js";

export const TITLE_SIZE = 15;
export const LABEL_SIZE = 12;
export const TICK_SIZE = 11;
export const AXIS_COLOR = "#444444";
export const GRID_COLOR = "#e5e5e5";

/** Maps data values to pixels along one axis. */
export interface Scale {
  (value: number): number;
  ticks: LinearTicks;
  log: boolean;
}

export function makeScale(ticks: LinearTicks, from: number, to: number, log = false): Scale {
  const f = log ? Math.log10 : (v: number) => v;
  const a = f(ticks.min);
  const b = f(ticks.max);
  const scale = ((value: number) => from + ((f(value) - a) / (b - a)) * (to - from)) as Scale;
  scale.ticks = ticks;
  scale.log = log;
  return scale;
}

/** Width of the widest y tick label, to size the left margin before anything is placed. */
export function yTickLabelWidth(ticks: LinearTicks): number {
  return Math.max(...ticks.ticks.map((t, i) => textWidth(tickLabel(ticks, t, i), TICK_SIZE)));
}

export function tickLabel(ticks: LinearTicks, value: number, index: number): string {
  return ticks.labels?.[index] ?? formatTick(value, ticks.step);
}

export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Horizontal grid lines with y tick labels on the left, and the rotated y axis label. */
export function yAxis(box: Box, y: Scale, label: string | undefined, labelX: number): string[] {
  const out: string[] = [];
  for (const [i, t] of y.ticks.ticks.entries()) {
    const py = y(t);
    if (py < box.top - 0.5 || py > box.bottom + 0.5) continue;
    out.push(
      `<line x1="${n(box.left)}" y1="${n(py)}" x2="${n(box.right)}" y2="${n(py)}" stroke="${GRID_COLOR}"/>`,
    );
    out.push(
      svgText(tickLabel(y.ticks, t, i), {
        x: box.left - 6,
        y: py,
        size: TICK_SIZE,
        anchor: "end",
        baseline: "middle",
        fill: AXIS_COLOR,
      }),
    );
  }
  if (label) {
    const cy = (box.top + box.bottom) / 2;
    out.push(
      svgText(label, {
        x: labelX,
        y: cy,
        size: LABEL_SIZE,
        anchor: "middle",
        rotate: -90,
        fill: "#222222",
      }),
    );
  }
  return out;
}

/** The plot box outline (left and bottom axes darker, as readers expect). */
export function frame(box: Box): string[] {
  const { left, top, right, bottom } = box;
  return [
    `<rect x="${n(left)}" y="${n(top)}" width="${n(right - left)}" height="${n(bottom - top)}" fill="none" stroke="#d0d0d0"/>`,
    `<path d="M${n(left)} ${n(top)}V${n(bottom)}H${n(right)}" fill="none" stroke="${AXIS_COLOR}"/>`,
  ];
}

export function title(text: string | undefined, width: number): string[] {
  return text
    ? [
        svgText(text, {
          x: width / 2,
          y: 10 + TITLE_SIZE,
          size: TITLE_SIZE,
          anchor: "middle",
          bold: true,
        }),
      ]
    : [];
}

export const titleHeight = (text: string | undefined): number => (text ? TITLE_SIZE + 16 : 10);
