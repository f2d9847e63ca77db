// The first layer's filters, drawn to be read: for each filter its colour composite (what
// `@cnnkit/explain`'s firstLayerFilters shows) beside its red, green and blue weights on a
// diverging scale (red positive, blue negative, white zero; one symmetric range per filter), so
// an edge detector shows as a red/blue split and a colour-opponent filter as channels of
// opposite sign, instead of one little coloured square per filter.
import { filterImages } from "@cnnkit/explain";
import { imageGrid, type Picture, type RgbImage } from "@cnnkit/viz";
import type { LayersModel } from "@tensorflow/tfjs-layers";

/** White at 0, red at +1, blue at −1. */
function diverging(t: number): [number, number, number] {
  const a = Math.min(1, Math.abs(t));
  const fade = Math.round(255 * (1 - a));
  return t >= 0 ? [255, fade, fade] : [fade, fade, 255];
}

/** The panel of `layer` (default `stem_conv`): one row of four images per filter, two filters per row. */
export function filterPanel(model: LayersModel, layer = "stem_conv"): Picture {
  const kernel = model.getLayer(layer).getWeights()[0]!;
  const [kh, kw, channels, filters] = kernel.shape as [number, number, number, number];
  const data = kernel.dataSync();
  const composites = filterImages(model, { layer });
  const images: RgbImage[] = [];
  const captions: string[] = [];
  const names = channels === 3 ? ["R", "G", "B"] : ["grey"];
  for (let f = 0; f < filters; f++) {
    const at = (p: number, c: number) => data[(p * channels + c) * filters + f]!;
    let range = 0;
    for (let p = 0; p < kh * kw; p++)
      for (let c = 0; c < channels; c++) range = Math.max(range, Math.abs(at(p, c)));
    images.push(composites[f]!);
    captions.push(`filter ${f}`);
    names.forEach((name, c) => {
      const pixels = new Uint8Array(kh * kw * 3);
      for (let p = 0; p < kh * kw; p++) pixels.set(diverging(range ? at(p, c) / range : 0), p * 3);
      images.push({ data: pixels, width: kw, height: kh, channels: 3 });
      captions.push(name);
    });
  }
  const perFilter = names.length + 1;
  return imageGrid({
    images,
    captions,
    columns: filters > 4 ? 2 * perFilter : perFilter,
    scale: Math.max(8, Math.floor(64 / Math.max(kh, kw))),
    title: `${layer}: ${filters} filters ${kh}×${kw}×${channels} — colour composite, then each input channel's weights (red +, blue −, white 0)`,
  });
}
