// Test helpers: read pixels back out of a rendered picture.
import { type DecodedImage, decodePNG, type Picture } from "../src/index.js";

/** Decodes a picture's PNG; `at(x, y)` gives [r, g, b] of one pixel. */
export function rendered(picture: Picture): DecodedImage & { at(x: number, y: number): number[] } {
  const png = decodePNG(picture.toPNG());
  return {
    ...png,
    at(x: number, y: number) {
      const i = (Math.round(y) * png.width + Math.round(x)) * png.channels;
      return Array.from(png.data.subarray(i, i + 3));
    },
  };
}

/** All `<tag …>` elements of an SVG string as attribute maps, in document order. */
export function elements(svg: string, tag: string): Record<string, string>[] {
  const found: Record<string, string>[] = [];
  for (const match of svg.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, "g"))) {
    const attrs: Record<string, string> = {};
    for (const a of (match[1] ?? "").matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]!] = a[2]!;
    found.push(attrs);
  }
  return found;
}

/** The text content of every `<text>` element (tspans joined by "\n"). */
export function texts(svg: string): string[] {
  return Array.from(svg.matchAll(/<text\b[^>]*>(.*?)<\/text>/g), (m) =>
    (m[1] ?? "")
      .replace(/<tspan[^>]*>/g, "\n")
      .replace(/<\/tspan>/g, "")
      .replace(/^\n/, "")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&amp;/g, "&"),
  );
}

/** Euclidean distance between two RGB triples. */
export function colorDistance(a: readonly number[], b: readonly number[]): number {
  return Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!);
}

/** Parses `#rrggbb`. */
export function rgbOf(hex: string): number[] {
  return [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
}
