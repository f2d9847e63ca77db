// Colour scales: one function from a number to a colour, shared by heatmaps and overlays.
import { VizError } from "./errors.js";

/** Named colour scales: `viridis` (perceptual, colour-blind safe), `blues` (counts), `redBlue` (signed). */
export type ColorScheme = "viridis" | "blues" | "redBlue" | "jet";

export interface ColorForValueOptions {
  /** Value mapped to the low end of the scale. Defaults to 0. */
  min?: number;
  /** Value mapped to the high end of the scale. Defaults to 1. */
  max?: number;
  /** The colour scale. Defaults to `"viridis"`. */
  scheme?: ColorScheme;
}

// Control points sampled from matplotlib's colormaps (viridis, Blues, RdBu reversed, jet);
// linear interpolation between 9 stops is visually indistinguishable from the full tables.
const STOPS: Record<ColorScheme, readonly (readonly [number, number, number])[]> = {
  viridis: [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
  ],
  blues: [
    [247, 251, 255],
    [222, 235, 247],
    [198, 219, 239],
    [158, 202, 225],
    [107, 174, 214],
    [66, 146, 198],
    [33, 113, 181],
    [8, 81, 156],
    [8, 48, 107],
  ],
  redBlue: [
    [5, 48, 97],
    [33, 102, 172],
    [67, 147, 195],
    [146, 197, 222],
    [247, 247, 247],
    [244, 165, 130],
    [214, 96, 77],
    [178, 24, 43],
    [103, 0, 31],
  ],
  jet: [
    [0, 0, 143],
    [0, 0, 255],
    [0, 127, 255],
    [0, 255, 255],
    [127, 255, 127],
    [255, 255, 0],
    [255, 127, 0],
    [255, 0, 0],
    [127, 0, 0],
  ],
};

/** The scale as [r, g, b] in 0..255 for a position t in [0, 1] (clamped; NaN gives mid-grey). */
export function rgbAt(t: number, scheme: ColorScheme = "viridis"): [number, number, number] {
  const stops = STOPS[scheme];
  if (!stops) {
    throw new VizError(
      "invalid_option",
      `scheme: expected one of ${Object.keys(STOPS).join(", ")}, got ${String(scheme)}`,
    );
  }
  if (Number.isNaN(t)) return [128, 128, 128];
  const pos = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(pos));
  const f = pos - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  return [0, 1, 2].map((c) => Math.round(a[c]! + (b[c]! - a[c]!) * f)) as [number, number, number];
}

/**
 * The colour for `value` on a scale from `min` to `max`, as `#rrggbb`. Values outside the range
 * clamp to its ends, so one outlier cannot wash out a whole heatmap.
 */
export function colorForValue(value: number, options: ColorForValueOptions = {}): string {
  const min = options.min ?? 0;
  const max = options.max ?? 1;
  const t = max === min ? 0.5 : (value - min) / (max - min);
  return hex(rgbAt(t, options.scheme ?? "viridis"));
}

/** `#rrggbb` for an [r, g, b] triple. */
export function hex(rgb: readonly number[]): string {
  return `#${rgb.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("")}`;
}

/** Black or white, whichever reads better on `rgb` (WCAG relative luminance). */
export function textColorOn(rgb: readonly number[]): string {
  const [r, g, b] = rgb.map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return luminance > 0.179 ? "#000000" : "#ffffff";
}

/** Ten distinct colours for series and classes: Tableau 10, matplotlib's default cycle. */
export const CATEGORICAL_COLORS: readonly string[] = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];
