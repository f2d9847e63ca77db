// Module resolution hooks (node:module register) under which the packages named in `hidden`
// resolve as if they were not installed: Node's own ERR_MODULE_NOT_FOUND, raised by looking
// them up from a folder with no node_modules. Each attempt is appended to `log` as
// "specifier<TAB>importing module". Registered by runWithoutPackages.
import { appendFileSync } from "node:fs";

/** @type {{ hidden: string[], log: string }} */
let options = { hidden: [], log: "" };

/** @param {{ hidden: string[], log: string }} data */
export function initialize(data) {
  options = data;
}

/**
 * @param {string} specifier
 * @param {{ parentURL?: string }} context
 * @param {(specifier: string, context: object) => Promise<unknown>} next
 */
export function resolve(specifier, context, next) {
  const hide = options.hidden.some(
    (name) => specifier === name || specifier.startsWith(`${name}/`),
  );
  if (!hide) return next(specifier, context);
  appendFileSync(options.log, `${specifier}\t${context.parentURL ?? ""}\n`);
  return next(specifier, { ...context, parentURL: "file:///cnnkit-not-installed/x.js" });
}
