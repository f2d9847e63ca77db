import { defaultClientConditions, defineConfig } from "vite";
import { offlineServiceWorker } from "./offline.js";

/**
 * Cross-origin isolation: with these two headers a page may share memory with its workers, and
 * tfjs's WebAssembly backend runs its multi-threaded build. Any static host can send them.
 */
export const ISOLATION_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

export default defineConfig({
  // Relative asset URLs: the built folder works from any path of any static host.
  base: "./",
  // Workspace packages are read from their sources, as tests and typecheck read them, so the
  // page needs no upstream build.
  resolve: { conditions: ["@cnnkit/source", ...defaultClientConditions] },
  worker: {
    format: "es",
    // tfjs's threaded WebAssembly starts its threads from the source text of a function that
    // guards a variable of its enclosing scope with `typeof`: renaming the variable or
    // simplifying the guard (which a compressor may, the variable being declared) breaks every
    // thread. Whitespace only.
    rolldownOptions: {
      output: { minify: { mangle: false, compress: false, codegen: { removeWhitespace: true } } },
    },
  },
  build: { target: "es2022", chunkSizeWarningLimit: 4096 },
  // sw.js: every built file kept for offline use (offline.ts).
  plugins: [offlineServiceWorker()],
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
});
