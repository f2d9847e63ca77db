// The Picture every drawing function returns: SVG text made in TS, PNG rendered by resvg (Node).
import type { Resvg as ResvgClass } from "@resvg/resvg-js";
import { VizError } from "./errors.js";
import { nodeProcess } from "./node-only.js";

/** Options for `Picture.toPNG`. */
export interface PngOptions {
  /** Pixel density: 2 renders a 640×400 picture as 1280×800 pixels. Defaults to 1. */
  scale?: number;
}

/** A drawn picture, written as SVG (text stays text) or PNG (same look on every machine). */
export interface Picture {
  /** Width in CSS pixels (PNG pixels at scale 1). */
  readonly width: number;
  /** Height in CSS pixels (PNG pixels at scale 1). */
  readonly height: number;
  /** A standalone SVG document. */
  toSVG(): string;
  /**
   * PNG bytes, rendered with the DejaVu Sans font shipped with this package. Node only (resvg is
   * native code); in a browser, `await renderPNG(picture)` draws the SVG through a canvas.
   */
  toPNG(options?: PngOptions): Uint8Array;
}

const IN_A_BROWSER = "in a browser use await renderPNG(picture) (canvas) or picture.toSVG()";
let nodeRequire: NodeJS.Require | undefined;
let fontFiles: string[] | undefined;
let Resvg: typeof ResvgClass | undefined;

/** Node's require, made on first PNG: a browser bundle never reaches it. */
function requireInNode(): NodeJS.Require {
  nodeRequire ??= nodeProcess("toPNG", IN_A_BROWSER)
    .getBuiltinModule("node:module")
    .createRequire(import.meta.url);
  return nodeRequire;
}

/**
 * Loads resvg on first PNG, not at import: SVG output then works even on a platform with no
 * prebuilt resvg binary (or in a browser), and the PNG failure is one clear error instead of an
 * import crash.
 */
function resvg(): typeof ResvgClass {
  if (!Resvg) {
    const require = requireInNode();
    try {
      Resvg = (require("@resvg/resvg-js") as { Resvg: typeof ResvgClass }).Resvg;
    } catch (cause) {
      throw new VizError(
        "renderer_unavailable",
        `toPNG: expected @resvg/resvg-js to load a prebuilt binary for ${globalThis.process.platform}-${globalThis.process.arch}, got: ${(cause as Error).message.split("\n")[0]} (toSVG still works)`,
        { cause },
      );
    }
  }
  return Resvg;
}

/**
 * The fonts resvg is given. System fonts are never loaded: a CI box may have none and a laptop
 * may have different ones, and either way the PNG would change. DejaVu comes from npm instead.
 */
function fonts(): string[] {
  fontFiles ??= ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"].map((file) =>
    requireInNode().resolve(`dejavu-fonts-ttf/ttf/${file}`),
  );
  return fontFiles;
}

/** `options.scale`, checked: a number in (0, 16]. Defaults to 1. */
export function checkScale(where: string, options: PngOptions): number {
  const scale = options.scale ?? 1;
  if (!(Number.isFinite(scale) && scale > 0 && scale <= 16)) {
    throw new VizError(
      "invalid_option",
      `${where} options.scale: expected a number in (0, 16], got ${String(scale)}`,
    );
  }
  return scale;
}

/** Renders an SVG document to PNG bytes with the shipped font. */
export function renderSvgToPng(svg: string, options: PngOptions = {}): Uint8Array {
  const scale = checkScale("toPNG", options);
  const Renderer = resvg();
  const renderer = new Renderer(svg, {
    fitTo: scale === 1 ? { mode: "original" } : { mode: "zoom", value: scale },
    font: {
      fontFiles: fonts(),
      loadSystemFonts: false,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
    // Embedded images are pixel art (upscaled CIFAR samples): never smooth them.
    imageRendering: 1,
  });
  const png = renderer.render().asPng();
  // Hand back a plain Uint8Array, not a Node Buffer, so equality checks and structured clones
  // behave the same as for encodePNG's output.
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/**
 * Wraps a finished SVG document; the PNG is rendered once, on first use, per scale, and each
 * call returns a copy so a caller writing into the bytes cannot change the next caller's.
 */
export function svgPicture(svg: string, width: number, height: number): Picture {
  const rendered = new Map<number, Uint8Array>();
  return {
    width,
    height,
    toSVG: () => svg,
    toPNG(options?: PngOptions) {
      const key = options?.scale ?? 1;
      let png = rendered.get(key);
      if (!png) {
        png = renderSvgToPng(svg, options);
        rendered.set(key, png);
      }
      return png.slice();
    },
  };
}
