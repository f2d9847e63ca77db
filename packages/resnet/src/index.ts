export { ResNetError } from "./errors.js";
