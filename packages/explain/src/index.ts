export { ExplainError } from "./errors.js";
