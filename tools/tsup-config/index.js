// Shared tsup settings: every package builds ESM for Node 20 with declarations and source
// maps; a package's tsup.config.ts names only what differs (its entries, mostly).
import { defineConfig } from "tsup";

/** Private workspace packages: never published, so bundled into each dist that imports them. */
const PRIVATE_PACKAGES = ["@cnnkit/make-dirs"];

/**
 * @param {import("tsup").Options} [overrides] replaces the default of each field it sets.
 * @returns {import("tsup").Options}
 */
export function cnnkitTsup(overrides = {}) {
  return defineConfig({
    entry: ["src/index.ts"],
    format: ["esm"],
    target: "node20",
    dts: true,
    sourcemap: true,
    clean: true,
    noExternal: PRIVATE_PACKAGES,
    ...overrides,
  });
}
