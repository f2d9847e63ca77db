export type { ExplainErrorCode } from "./errors.js";
export { ExplainError } from "./errors.js";
export { type FeatureMap, type FeatureMapsOptions, featureMaps } from "./feature-maps.js";
export {
  type FirstLayerFiltersOptions,
  filterImages,
  filterImagesAsync,
  firstLayerFilters,
  firstLayerFiltersAsync,
} from "./first-layer-filters.js";
export {
  type GradCamOptions,
  type GradCamResult,
  gradCam,
  gradCamMaps,
  gradCamMapsAsync,
} from "./grad-cam.js";
export {
  type GallerySource,
  type GradCamGalleryOptions,
  gradCamGallery,
} from "./grad-cam-gallery.js";
export {
  type GradientNormChartOptions,
  GradientNormHistory,
  type GradientNormHistoryState,
  type GradientNormProfileOptions,
  gradientNormChart,
  gradientNormProfile,
} from "./gradient-norm-history.js";
export { gradientGroup, gradientNormsByBlock } from "./gradient-norms.js";
