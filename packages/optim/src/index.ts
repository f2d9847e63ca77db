export { OptimError } from "./errors.js";
