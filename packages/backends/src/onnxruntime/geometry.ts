// A tfjs convolution's geometry in ONNX's terms. tfjs tensors are NHWC with HWIO filters; ONNX's
// Conv is NCHW with OIHW filters. Where the channels come in whole blocks, the graphs use ORT's
// blocked layout, which reads and writes NHWC itself (blocked-conv.ts); elsewhere they transpose
// at their edges with these permutations.
import { backend_util, type NamedAttrMap } from "@tensorflow/tfjs-core";

export const NHWC_TO_NCHW = [0, 3, 1, 2];
export const NCHW_TO_NHWC = [0, 2, 3, 1];
export const HWIO_TO_OIHW = [3, 2, 0, 1];

export interface Geometry {
  info: backend_util.Conv2DInfo;
  /** ONNX pads: [top, left, bottom, right]. */
  pads: number[];
}

export function geometry(
  inShape: readonly number[],
  filterShape: readonly number[],
  attrs: NamedAttrMap,
  dilations: number | [number, number] = 1,
): Geometry | null {
  if (attrs.dataFormat === "NCHW") return null;
  const info = backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    dilations,
    attrs.pad as "same" | "valid" | number | backend_util.ExplicitPadding,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    false,
    "channelsLast",
  );
  const p = info.padInfo;
  if (p.top < 0 || p.left < 0 || p.bottom < 0 || p.right < 0) return null;
  // ONNX derives the output size from the pads; tfjs does not always agree (a numeric `pad` with
  // a non-square filter or stride sizes both axes from the height's): leave those to tfjs.
  const natural = (size: number, before: number, after: number, k: number, d: number, s: number) =>
    Math.floor((size + before + after - ((k - 1) * d + 1)) / s) + 1;
  if (
    natural(
      info.inHeight,
      p.top,
      p.bottom,
      info.filterHeight,
      info.dilationHeight,
      info.strideHeight,
    ) !== info.outHeight ||
    natural(
      info.inWidth,
      p.left,
      p.right,
      info.filterWidth,
      info.dilationWidth,
      info.strideWidth,
    ) !== info.outWidth
  ) {
    return null;
  }
  return { info, pads: [p.top, p.left, p.bottom, p.right] };
}
