export type { CnnkitErrorClass } from "./cnnkit-error.js";
export { CnnkitError } from "./cnnkit-error.js";
