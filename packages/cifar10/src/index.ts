// Everything a browser bundle gets (browser.ts), and loadCifar10, which downloads, verifies and
// caches the archive with Node's file system.
export * from "./browser.js";
export { type LoadCifar10Options, loadCifar10 } from "./load-cifar10.js";
