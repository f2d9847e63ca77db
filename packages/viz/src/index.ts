export { VizError } from "./errors.js";
