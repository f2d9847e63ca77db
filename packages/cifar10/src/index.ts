export { Cifar10Error } from "./errors.js";
