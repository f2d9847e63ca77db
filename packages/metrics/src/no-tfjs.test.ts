import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

// tfjs is an optional peer: the main entry must not load it at runtime. Type-only imports
// are erased; only the `@cnnkit/metrics/tfjs` entry (tfjs.ts → softmax-cross-entropy.ts)
// may import it for real.
const allowed = new Set(["tfjs.ts", "softmax-cross-entropy.ts"]);

describe("the main entry", () => {
  it("never imports tfjs at runtime", () => {
    const dir = new URL(".", import.meta.url);
    const sources = readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    expect(sources).toContain("classification-metrics.ts");
    const offenders = sources.filter((file) => {
      if (allowed.has(file)) return false;
      const text = readFileSync(new URL(file, dir), "utf8");
      return (
        /^\s*import\s+(?!type\b)[^;]*from\s+["']@tensorflow\//m.test(text) ||
        /import\(\s*["']@tensorflow\//.test(text)
      );
    });
    expect(offenders).toEqual([]);
    expect(readFileSync(new URL("index.ts", dir), "utf8")).not.toContain("softmax-cross-entropy");
  });
});
