// Small helpers every picture uses to write SVG by hand: escaping, text, text widths, numbers.
import {
  DEJAVU_SANS_ADVANCES,
  DEJAVU_SANS_BOLD_ADVANCES,
  DEJAVU_SANS_BOLD_EXTRA_ADVANCES,
  DEJAVU_SANS_EXTRA_ADVANCES,
} from "./font-metrics.js";

/**
 * The font every picture asks for. The PNG renderer is handed exactly this font (shipped in
 * `dejavu-fonts-ttf`), so text measured here is the text drawn there; browsers viewing the SVG
 * fall back to a similar sans-serif if DejaVu is not installed.
 */
export const FONT_FAMILY = "DejaVu Sans, Verdana, Arial, sans-serif";

/** Escapes text for use in SVG element content and double-quoted attributes. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => {
    switch (ch) {
      case "&":
        return "&amp;";
      case "<":
        return "&lt;";
      case ">":
        return "&gt;";
      case '"':
        return "&quot;";
      default:
        return "&#39;";
    }
  });
}

/**
 * Width in px of `text` set in DejaVu Sans at `fontSize`. Characters outside printable ASCII and
 * the common extras (→, ×, ·, …) count as a digit, DejaVu's typical width: close enough for layout.
 */
export function textWidth(text: string, fontSize: number, bold = false): number {
  const table = bold ? DEJAVU_SANS_BOLD_ADVANCES : DEJAVU_SANS_ADVANCES;
  const extras = bold ? DEJAVU_SANS_BOLD_EXTRA_ADVANCES : DEJAVU_SANS_EXTRA_ADVANCES;
  let em = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 48;
    em += table[code - 32] ?? extras.get(ch) ?? table[48 - 32] ?? 0.636;
  }
  return em * fontSize;
}

/** Rounds a coordinate to 2 decimals so the SVG stays short and diffable. */
export function n(value: number): string {
  return String(Math.round(value * 100) / 100);
}

export interface TextOptions {
  x: number;
  y: number;
  size: number;
  anchor?: "start" | "middle" | "end";
  /** Vertical alignment: `y` is the baseline, or the middle of the line's x-height box. */
  baseline?: "alphabetic" | "middle";
  fill?: string;
  bold?: boolean;
  /** Degrees, around (x, y). */
  rotate?: number;
  /** Line height in multiples of `size`, for text with "\n". */
  lineHeight?: number;
  /** A white outline under the glyphs, so text over lines and bars stays readable. */
  halo?: boolean;
}

/**
 * One `<text>` element; "\n" starts a new line (a `<tspan>`), so multi-line captions stay text.
 * Vertical centring uses a fixed offset rather than `dominant-baseline`, which renderers treat
 * differently; for DejaVu the x-height centre sits ~0.35 em above the baseline.
 */
export function svgText(content: string, o: TextOptions): string {
  const lines = content.split("\n");
  const lineHeight = (o.lineHeight ?? 1.2) * o.size;
  const middle = o.baseline === "middle";
  const firstBaseline = middle ? o.y + 0.35 * o.size - ((lines.length - 1) * lineHeight) / 2 : o.y;
  const attrs = [
    `x="${n(o.x)}"`,
    `y="${n(firstBaseline)}"`,
    `font-size="${n(o.size)}"`,
    o.anchor && o.anchor !== "start" ? `text-anchor="${o.anchor}"` : "",
    o.fill ? `fill="${escapeXml(o.fill)}"` : "",
    o.bold ? `font-weight="bold"` : "",
    o.halo ? `stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"` : "",
    o.rotate ? `transform="rotate(${n(o.rotate)} ${n(o.x)} ${n(o.y)})"` : "",
  ]
    .filter(Boolean)
    .join(" ");
  if (lines.length === 1) return `<text ${attrs}>${escapeXml(content)}</text>`;
  const spans = lines
    .map(
      (line, i) =>
        `<tspan x="${n(o.x)}" dy="${i === 0 ? 0 : n(lineHeight)}">${escapeXml(line)}</tspan>`,
    )
    .join("");
  return `<text ${attrs}>${spans}</text>`;
}

/** Wraps body elements into a standalone SVG document with a white background. */
export function svgDocument(width: number, height: number, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}" font-family="${FONT_FAMILY}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}
