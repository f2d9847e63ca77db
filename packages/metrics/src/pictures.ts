// Entry point `@cnnkit/metrics/pictures`: a result drawn with @cnnkit/viz, an optional peer
// (the main entry never loads it, so numbers do not install a rasteriser).

export type { ConfusionMatrixPictureOptions } from "./confusion-matrix-picture.js";
export { confusionMatrixPicture } from "./confusion-matrix-picture.js";
export type { FailureGalleryOptions, ImageSource } from "./failure-gallery.js";
export { failureGallery } from "./failure-gallery.js";
export type { PerClassAccuracyPictureOptions } from "./per-class-accuracy-picture.js";
export { perClassAccuracyPicture } from "./per-class-accuracy-picture.js";
export type { ReliabilityPictureOptions } from "./reliability-picture.js";
export { reliabilityPicture } from "./reliability-picture.js";
