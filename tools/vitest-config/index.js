// Shared vitest settings. Tests import workspace packages through the "@cnnkit/source"
// export condition, so they run against src/ and need no upstream build.
import { defaultServerConditions } from "vite";
import { defineConfig, mergeConfig } from "vitest/config";

const conditions = ["@cnnkit/source", ...defaultServerConditions];

/**
 * @param {import("vitest/config").UserConfig} [overrides] merged over the defaults.
 * @returns {import("vitest/config").UserConfig}
 */
export function cnnkitVitest(overrides = {}) {
  return mergeConfig(
    defineConfig({
      resolve: { conditions },
      ssr: { resolve: { conditions, externalConditions: ["@cnnkit/source"] } },
      test: {
        include: ["src/**/*.test.ts", "test/**/*.test.ts"],
        // One fork at a time per package keeps tfjs's global engine state isolated per file,
        // and turbo already runs packages side by side on a 2-core machine.
        pool: "forks",
        fileParallelism: false,
        testTimeout: 60_000,
        hookTimeout: 120_000,
        reporters: ["default", ["json", { outputFile: ".vitest/results.json" }]],
        // tfjs's cpu backend greets every process that uses it with a banner recommending
        // tfjs-node; the tests choose cpu on purpose, so the banner is noise in their logs.
        onConsoleLog: (log) => !log.includes("looks like you are running TensorFlow.js in Node.js"),
      },
    }),
    overrides,
  );
}
