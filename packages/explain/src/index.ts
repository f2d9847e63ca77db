export { ExplainError } from "./errors.js";
export {
  type GradCamOptions,
  type GradCamResult,
  gradCam,
  gradCamMaps,
} from "./grad-cam.js";
