// PNG bytes of a picture wherever the code runs: resvg in Node, the browser's own SVG renderer
// and a canvas in a page.
import { VizError } from "./errors.js";
import { checkScale, type Picture, type PngOptions } from "./picture.js";

/** The parts of the DOM this file uses, so the package's types need no "dom" lib. */
interface PageGlobals {
  process?: { getBuiltinModule?: unknown };
  document?: { createElement(tag: "canvas"): Canvas };
  Image?: new () => { src: string; decode(): Promise<void> };
  URL: { createObjectURL(blob: Blob): string; revokeObjectURL(url: string): void };
}
interface Canvas {
  width: number;
  height: number;
  getContext(kind: "2d"): {
    drawImage(image: unknown, x: number, y: number, w: number, h: number): void;
  } | null;
  toBlob(done: (blob: Blob | null) => void, type: string): void;
}

/**
 * The picture as PNG bytes. In Node this is `picture.toPNG(options)` (resvg with the shipped
 * DejaVu font, the same pixels on every machine). In a browser page the SVG is drawn by the
 * browser onto a canvas at `scale` × the picture's size, so text uses the page's sans-serif
 * font. Needs a document (a page, not a worker) when not in Node.
 */
export async function renderPNG(picture: Picture, options: PngOptions = {}): Promise<Uint8Array> {
  const page = globalThis as unknown as PageGlobals;
  if (typeof page.process?.getBuiltinModule === "function") return picture.toPNG(options);
  const scale = checkScale("renderPNG", options);
  if (!(page.document && page.Image)) {
    throw new VizError(
      "renderer_unavailable",
      "renderPNG: expected Node.js or a browser page with a document (to draw the SVG on a canvas), got neither (a worker?); use picture.toSVG()",
    );
  }
  const url = page.URL.createObjectURL(new Blob([picture.toSVG()], { type: "image/svg+xml" }));
  try {
    const image = new page.Image();
    image.src = url;
    await image.decode();
    const canvas = page.document.createElement("canvas");
    canvas.width = Math.round(picture.width * scale);
    canvas.height = Math.round(picture.height * scale);
    const context = canvas.getContext("2d");
    if (!context) {
      throw new VizError("renderer_unavailable", "renderPNG: the browser gave no 2d canvas");
    }
    context.drawImage(image, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise<Blob | null>((done) => canvas.toBlob(done, "image/png"));
    if (!blob) throw new VizError("renderer_unavailable", "renderPNG: the canvas made no PNG");
    return new Uint8Array(await blob.arrayBuffer());
  } finally {
    page.URL.revokeObjectURL(url);
  }
}
