export { TensorBoardError } from "./errors.js";
