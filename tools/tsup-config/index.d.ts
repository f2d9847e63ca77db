import type { Options } from "tsup";

/**
 * tsup's options. Named here so that a package's `export default cnnkitTsup()` has a type its
 * tsconfig can name: the package reaches tsup only through this one.
 */
export interface CnnkitTsupOptions extends Options {}

/** The shared cnnkit tsup config; each field `overrides` sets replaces the default's. */
export declare function cnnkitTsup(overrides?: Options): CnnkitTsupOptions;
