// Image grids: samples side by side, pixel-exact, with captions and right/wrong borders.
import { VizError } from "./errors.js";
import { positiveInteger, show, stringArray } from "./options.js";
import { type Picture, svgPicture } from "./picture.js";
import { encodePNG, pngDataUrl } from "./png.js";
import { checkImage, type RgbImage, upscaleNearest } from "./rgb-image.js";
import { escapeXml, svgDocument, svgText, textWidth } from "./svg.js";

export interface ImageGridOptions {
  /** The images, 8-bit HWC, RGB or grayscale, any sizes (each is centred in its cell). */
  images: RgbImage[];
  /** Images per row. Defaults to ceil(sqrt(images.length)), a square-ish grid. */
  columns?: number;
  /**
   * Integer nearest-neighbour upscale factor of the largest image; every cell is that image's
   * size times `scale`, and smaller images (an 8×8 heat map beside 32×32 samples) are enlarged
   * by the largest whole factor that fits the cell. Defaults to the smallest factor that makes
   * the largest side at least 96 px (3 for 32×32 CIFAR-10, 1 for anything 96 px or larger).
   */
  scale?: number;
  /** One caption per image, drawn under it ("\n" starts a new line). Defaults to none. */
  captions?: string[];
  /**
   * One border colour per image (any CSS colour, e.g. `"#2ca02c"` for right, `"#d62728"` for
   * wrong), or null for no border. Defaults to no borders.
   */
  borders?: (string | null)[];
  /** A title over the grid. Defaults to none. */
  title?: string;
}

/** Green and red borders that stay distinguishable for most colour-blind readers. */
export const RIGHT_COLOR = "#1a9850";
export const WRONG_COLOR = "#d73027";

const PAD = 10;
const GAP = 8;
const CAPTION_SIZE = 11;
const CAPTION_LINE = 1.25;
const TITLE_SIZE = 15;

interface ResolvedImageGridOptions {
  images: RgbImage[];
  columns: number;
  scale: number;
  captions: string[] | undefined;
  borders: (string | null)[] | undefined;
  title: string | undefined;
}

function resolveImageGridOptions(options: ImageGridOptions): ResolvedImageGridOptions {
  if (!options || !Array.isArray(options.images) || options.images.length === 0) {
    throw new VizError(
      "invalid_option",
      `imageGrid options.images: expected a non-empty array of images, got ${show(options?.images)}`,
    );
  }
  const images = options.images;
  images.forEach((image, i) => {
    checkImage(image, `imageGrid images[${i}]`);
  });
  const maxSide = Math.max(...images.map((im) => Math.max(im.width, im.height)));
  const columns = Math.min(
    images.length,
    positiveInteger(
      options.columns ?? Math.ceil(Math.sqrt(images.length)),
      "imageGrid options.columns",
    ),
  );
  const scale = positiveInteger(
    options.scale ?? Math.max(1, Math.ceil(96 / maxSide)),
    "imageGrid options.scale",
  );
  const captions =
    options.captions === undefined
      ? undefined
      : stringArray(options.captions, "imageGrid options.captions (one per image)", images.length);
  let borders: (string | null)[] | undefined;
  if (options.borders !== undefined) {
    if (
      !Array.isArray(options.borders) ||
      options.borders.length !== images.length ||
      options.borders.some((b) => b !== null && typeof b !== "string")
    ) {
      throw new VizError(
        "invalid_option",
        `imageGrid options.borders: expected ${images.length} colours or nulls (one per image), got ${show(options.borders)}`,
      );
    }
    borders = options.borders;
  }
  return { images, columns, scale, captions, borders, title: options.title };
}

/**
 * Lays images out in rows and columns, upscaled with nearest neighbour so every source pixel
 * becomes a crisp `scale`×`scale` block, each with an optional caption and coloured border.
 */
export function imageGrid(options: ImageGridOptions): Picture {
  const o = resolveImageGridOptions(options);
  const border = o.borders?.some((b) => b) ? Math.max(2, Math.min(4, o.scale)) : 0;
  const imageW = Math.max(...o.images.map((im) => im.width)) * o.scale;
  const imageH = Math.max(...o.images.map((im) => im.height)) * o.scale;
  const captionLines = o.captions?.map((c) => c.split("\n")) ?? [];
  const lineCount = Math.max(0, ...captionLines.map((lines) => lines.length));
  const captionW = Math.max(
    0,
    ...captionLines.flat().map((line) => Math.ceil(textWidth(line, CAPTION_SIZE)) + 4),
  );
  const cellW = Math.max(imageW + 2 * border, captionW);
  const captionH = lineCount > 0 ? Math.ceil(lineCount * CAPTION_LINE * CAPTION_SIZE) + 4 : 0;
  const cellH = imageH + 2 * border + captionH;
  const rows = Math.ceil(o.images.length / o.columns);
  const titleH = o.title ? TITLE_SIZE + 12 : 0;
  const width = Math.max(
    2 * PAD + o.columns * cellW + (o.columns - 1) * GAP,
    o.title ? Math.ceil(textWidth(o.title, TITLE_SIZE, true)) + 2 * PAD : 0,
  );
  const height = 2 * PAD + titleH + rows * cellH + (rows - 1) * GAP;
  const left = Math.floor((width - (o.columns * cellW + (o.columns - 1) * GAP)) / 2);

  const body: string[] = [];
  if (o.title) {
    body.push(
      svgText(o.title, {
        x: width / 2,
        y: PAD + TITLE_SIZE,
        size: TITLE_SIZE,
        anchor: "middle",
        bold: true,
      }),
    );
  }
  o.images.forEach((image, i) => {
    const cellX = left + (i % o.columns) * (cellW + GAP);
    const cellY = PAD + titleH + Math.floor(i / o.columns) * (cellH + GAP);
    const factor = Math.max(
      1,
      Math.min(Math.floor(imageW / image.width), Math.floor(imageH / image.height)),
    );
    const w = image.width * factor;
    const h = image.height * factor;
    // Integer positions keep each source pixel on whole output pixels (no resampling seams).
    const x = cellX + Math.floor((cellW - w) / 2);
    const y = cellY + border + Math.floor((imageH - h) / 2);
    const colour = o.borders?.[i];
    if (colour) {
      body.push(
        `<rect x="${x - border / 2}" y="${y - border / 2}" width="${w + border}" height="${h + border}" fill="none" stroke="${escapeXml(colour)}" stroke-width="${border}"/>`,
      );
    }
    // Upscaled here rather than by the viewer: browsers and renderers disagree on
    // image-rendering, and a smoothed 32×32 image is a blur.
    const png = encodePNG(upscaleNearest(image, factor));
    body.push(
      `<image x="${x}" y="${y}" width="${w}" height="${h}" image-rendering="optimizeSpeed" href="${pngDataUrl(png)}"/>`,
    );
    const caption = o.captions?.[i];
    if (caption) {
      body.push(
        svgText(caption, {
          x: cellX + cellW / 2,
          y: cellY + imageH + 2 * border + CAPTION_SIZE + 2,
          size: CAPTION_SIZE,
          anchor: "middle",
          fill: "#222222",
          lineHeight: CAPTION_LINE,
        }),
      );
    }
  });
  return svgPicture(svgDocument(width, height, body), width, height);
}
