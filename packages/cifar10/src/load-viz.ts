// @cnnkit/viz is an optional peer: only the `@cnnkit/cifar10/pictures` entry loads it, once,
// and where it is not installed a picture function says what to install instead of a stack
// trace from deep inside the module loader.
import type * as Viz from "@cnnkit/viz";
import { Cifar10Error } from "./errors.js";

/** True for the loader's "not installed" error about `name` itself (not a package it imports). */
export function isMissingPackage(error: unknown, name: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    typeof message === "string" &&
    (message.includes(`'${name}'`) || message.includes(`"${name}"`))
  );
}

let viz: typeof Viz | undefined;
let missing: unknown;
try {
  viz = await import("@cnnkit/viz");
} catch (error) {
  // An installed but broken viz (or a failing dependency of it) fails here, loudly, as a
  // static import would; only "not installed" waits for the first picture to be asked for.
  if (!isMissingPackage(error, "@cnnkit/viz")) throw error;
  missing = error;
}

/** The viz module, or a `Cifar10Error` naming `caller` and the package to install. */
export function loadViz(caller: string): typeof Viz {
  if (viz !== undefined) return viz;
  throw new Cifar10Error(
    "missing_viz",
    `${caller}: pictures need @cnnkit/viz, an optional peer of @cnnkit/cifar10 that is not installed; add it with \`pnpm add @cnnkit/viz\``,
    { cause: missing },
  );
}
