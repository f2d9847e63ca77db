export { BackendError } from "./errors.js";
