import type { UserConfig } from "vitest/config";

/** The shared cnnkit vitest config, with `overrides` merged over it. */
export declare function cnnkitVitest(overrides?: UserConfig): UserConfig;
